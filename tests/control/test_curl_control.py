"""README's device state and commands flow, with curl and jq against the real API and gateway-http."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.wiring.admin import admin_account

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).with_name("curl_control.sh")


def test_the_readme_device_control_flow_runs_with_curl(stack, services, owner):
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    assert not missing, f"install {missing} (make test installs them)"
    account = admin_account(stack.settings())  # the owner fixture made sure the admin exists
    env = {**os.environ, "API": services["api"], "GW": services["gateway"], "ADMIN_PASSWORD": account.password,
           "ADMIN_USERNAME": account.username}
    run = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert run.stdout.splitlines()[-1] == "owner: command succeeded, device online"
