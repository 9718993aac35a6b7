"""The container contract: what the Dockerfile promises, and its command serving every service as Cloud Run runs it.

Docker cannot run here, so the contract test runs the image's own command (ENTRYPOINT + CMD, with the image's
ENV) from the repository as WORKDIR, the way Cloud Run starts an instance: IOT_SERVICE and PORT set, then
/healthz, then SIGTERM and a clean exit.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
import requests

from emulators.process import ManagedProcess, free_port, wait_until
from infra.config import ROOT
from run.services import SERVICES
from tests.deploy.deployfiles import DOCKERIGNORE, Dockerfile, Terraform, deployment_from_terraform

NAMES = [service.name for service in SERVICES]
SECRET_NAME = re.compile(r"KEY|PASSWORD|SECRET|TOKEN|CREDENTIAL", re.IGNORECASE)
START_TIMEOUT = 30.0
# Cloud Run waits 10 s after SIGTERM before it kills an instance.
STOP_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.read()


def test_base_image_is_slim_python_311_pinned_by_digest(dockerfile):
    (base,) = dockerfile.all("FROM")
    assert re.fullmatch(r"python:3\.11[.\d]*-slim[\w-]*@sha256:[0-9a-f]{64}", base), base


def test_runs_as_a_non_root_user(dockerfile):
    users = dockerfile.all("USER")
    assert users and users[-1] not in ("0", "root", "0:0")
    assert dockerfile.index("USER") > dockerfile.index("RUN", "python -m compileall")


def test_environment_fits_cloud_run(dockerfile):
    env = dockerfile.env
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["IOT_BIND_HOST"] == "0.0.0.0"
    assert env["PORT"] == "8080"
    assert env["PYTHONPATH"] == "/app" == dockerfile.all("WORKDIR")[-1]
    # Nothing names the service: each Cloud Run service sets IOT_SERVICE itself.
    assert "IOT_SERVICE" not in env


def test_command_is_python_dash_m_run(dockerfile):
    assert dockerfile.command == ["python", "-m", "run"]


def test_only_the_lock_and_the_code_are_copied_into_the_image(dockerfile):
    # requirements.lock is installed in a layer of its own (tests/deploy/test_dependency_lock.py), then the code.
    assert [args.split()[0] for args in dockerfile.all("COPY")] == ["requirements.lock", "infra", "run"]


def test_no_secret_is_baked_into_the_image(dockerfile):
    names = list(dockerfile.env) + [arg.split("=")[0] for arg in dockerfile.all("ARG")]
    assert not [name for name in names if SECRET_NAME.search(name)]
    # Only the allow-listed paths reach the build context: not .local/ (keys, passwords), not .git.
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"
    assert {line for line in lines if line.startswith("!")} == {"!requirements.lock", "!infra/", "!run/"}


def _deploy_env(name: str) -> dict[str, str]:
    """The literal variables terraform deploys the service with, in the default environment (no name prefix);
    other placeholders such as project ids left out."""
    deployed = deployment_from_terraform(Terraform.read(), name).env
    deployed = {key: value.replace("{name_prefix}", "") for key, value in deployed.items()}
    return {key: value for key, value in deployed.items() if "{" not in value}


@pytest.mark.e2e
@pytest.mark.parametrize("name", NAMES)
def test_container_command_serves_healthz_and_exits_cleanly_on_sigterm(stack, dockerfile, name, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        **dockerfile.env,
        **stack.env(),
        **_deploy_env(name),
        # As Cloud Run runs it: told its name and port, K_SERVICE set; development mode so it may use the
        # local keys of the test stack; the repository stands in for /app; loopback only on a shared machine.
        "IOT_SERVICE": name,
        "PORT": str(port),
        "K_SERVICE": name,
        "IOT_ENV": "development",
        "PYTHONPATH": str(ROOT),
        "IOT_BIND_HOST": "127.0.0.1",
    }
    command = dockerfile.command
    # The image's `python` is its only interpreter; here that is the interpreter running the tests.
    argv = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    process = ManagedProcess(f"container-{name}", argv, env=env, cwd=ROOT,
                             log_path=tmp_path / f"{name}.log").start()
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        wait_until(lambda: requests.get(url, timeout=1).status_code == 200, timeout=START_TIMEOUT,
                   what=f"{name} on {url}", process=process)
        assert requests.get(url, timeout=5).status_code == 200

        # Cloud Run signals the container's first process only, as docker stop does.
        os.kill(process.pid, signal.SIGTERM)
        try:
            code = process.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} still runs {STOP_TIMEOUT:g}s after SIGTERM\n{process.log_tail()}")
        assert code == 0, process.log_tail()
    finally:
        process.stop()
