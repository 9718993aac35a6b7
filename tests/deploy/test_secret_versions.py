"""Secrets are mounted at pinned versions, set once (cloudbuild.yaml's substitutions) and read by terraform too.

Cloud Run resolves a secret's ``latest`` whenever an instance starts, so with ``latest`` old and new instances of a
rotation hold different keys. Pinned, a rotation is a commit that deploys, and each revision keeps its secrets.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from infra.config import ROOT
from tests.deploy.deployfiles import (
    CLOUDBUILD,
    Terraform,
    check_step_script,
    deploy_steps,
    deployment_from_cloudbuild,
    read_cloudbuild,
)
from tests.support.tools import missing

VERSIONS_EXPRESSION = ('${{for secret, entry in local.secrets : secret => '
                       'yamldecode(file("${path.module}/../cloudbuild.yaml")).substitutions[entry.substitution]}}')


def test_every_secret_has_one_numbered_version_in_the_build_substitutions():
    terraform, build = Terraform.read(), read_cloudbuild()
    named = {secret: entry["substitution"] for secret, entry in terraform.locals["secrets"].items()}
    versions = {name: value for name, value in build["substitutions"].items() if name.endswith("_VERSION")}
    assert sorted(named.values()) == sorted(versions)
    for secret, name in named.items():
        assert isinstance(versions[name], str) and re.fullmatch(r"[1-9][0-9]*", versions[name]), (secret, name)
    assert terraform.locals["secret_versions"] == VERSIONS_EXPRESSION


def test_every_deploy_step_mounts_the_version_its_secret_names():
    terraform, build = Terraform.read(), read_cloudbuild()
    named = {secret: entry["substitution"] for secret, entry in terraform.locals["secrets"].items()}
    for name, step in deploy_steps(build).items():
        for variable, reference in deployment_from_cloudbuild(step).secrets.items():
            secret, _, version = reference.partition(":")
            assert version == "${%s}" % named[secret.removeprefix("{name_prefix}")], (name, variable)
    assert ":latest" not in CLOUDBUILD.read_text()
    readme_mounts = re.findall(r"--set-secrets=(\S+)", (ROOT / "README.md").read_text())
    assert not [mount for mount in readme_mounts if ":latest" in mount]


@pytest.mark.integration  # runs terraform
def test_terraform_reads_the_versions_cloudbuild_deploys(tmp_path):
    """terraform itself evaluates secrets.tf's expression over cloudbuild.yaml (its YAML decoder is a subset)."""
    terraform, build = Terraform.read(), read_cloudbuild()
    binary = shutil.which("terraform") or missing("terraform is not installed")
    module = tmp_path / "terraform"
    module.mkdir()
    (tmp_path / "cloudbuild.yaml").symlink_to(CLOUDBUILD)
    (module / "main.tf").write_text(
        "locals {\n"
        f"  secrets = jsondecode({json.dumps(json.dumps(terraform.locals['secrets']))})\n"
        f"  secret_versions = {VERSIONS_EXPRESSION[2:-1]}\n"
        "}\n")
    result = subprocess.run([binary, "console"], input="jsonencode(local.secret_versions)\n", cwd=module,
                            capture_output=True, text=True, timeout=60, env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    decoded = json.loads(json.loads(result.stdout.strip().splitlines()[-1]))
    assert decoded == {secret: build["substitutions"][entry["substitution"]]
                       for secret, entry in terraform.locals["secrets"].items()}


@pytest.mark.integration  # runs bash
@pytest.mark.parametrize("version, accepted", [(None, True), ("12", True), ("latest", False), ("", False),
                                               ("0", False), ("1,2", False)])
def test_the_build_stops_on_a_secret_version_that_is_not_a_number(version, accepted):
    build = read_cloudbuild()
    values = {**build["substitutions"], "COMMIT_SHA": "abc", "_ELASTICSEARCH_URL": "https://es"}
    if version is not None:
        values["_JWKS_VERSION"] = version
    result = subprocess.run(["bash", "-c", check_step_script(build, values)], capture_output=True, text=True, timeout=30)
    assert (result.returncode == 0) == accepted, result.stdout + result.stderr
    if not accepted:
        assert f"secret versions are numbers, not '{version}'" in result.stdout
