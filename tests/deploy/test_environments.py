"""Terraform state and environments: the state lives in a versioned bucket (terraform/bootstrap), one prefix per
environment, and the names an environment gives its resources start with its prefix (var.environment), in terraform,
in cloudbuild.yaml (_NAME_PREFIX) and in what the services are told (IOT_PUBSUB_PREFIX, IOT_CREDENTIALS_DATABASE)."""

from __future__ import annotations

import re
import subprocess

import pytest

from infra.config import ROOT
from tests.deploy.deployfiles import (
    TERRAFORM,
    Terraform,
    check_step_script,
    deploy_steps,
    deployment_from_cloudbuild,
    load_hcl,
    read_cloudbuild,
)

BOOTSTRAP = TERRAFORM / "bootstrap" / "main.tf"
NAME_ATTRIBUTES = ("name", "account_id", "secret_id", "repository_id")
# Names an environment shares with the others of its project: none. (The build sources' bucket carries the prefix
# after the project id, as `gcloud builds submit` names its default bucket PROJECT_cloudbuild.)
NOT_PREFIXED: set[str] = set()
PREFIXES = ("${local.name_prefix}", "${var.project_id}_${local.name_prefix}")
# A name taken from another resource or from a local that is itself checked.
REFERENCE = re.compile(r"\$\{(google_\w+|each\.\w+|local\.(?!name_prefix)\w+)[^{}]*\}")


@pytest.fixture(scope="module")
def terraform() -> Terraform:
    return Terraform.read()


def test_every_name_unique_in_a_project_carries_the_environment_prefix(terraform):
    prefixed, shared = set(), set()
    for rtype, named in terraform.resources.items():
        for rname, body in named.items():
            names = [body[key] for key in NAME_ATTRIBUTES if isinstance(body.get(key), str)]
            names = [name for name in names if not REFERENCE.fullmatch(name)]
            if names:
                (prefixed if all(n.startswith(PREFIXES) for n in names) else shared).add(
                    f"{rtype}.{rname}")
    assert shared == NOT_PREFIXED
    assert len(prefixed) > 20  # services, secrets, topics, subscriptions, the load balancer, the smoke job...
    assert terraform.resolve(terraform.locals["credentials_database"]) == "{name_prefix}iot-credentials"
    # the main database: (default) alone, a named one for each further environment
    assert terraform.resource("google_firestore_database.default")["name"] == "${local.main_database}"
    assert terraform.locals["main_database"] == '${var.environment == "" ? "(default)" : "${local.name_prefix}iot"}'
    assert terraform.locals["name_prefix"] == '${var.environment == "" ? "" : "${var.environment}-"}'
    assert terraform.variables["environment"]["default"] == ""


def test_cloudbuild_names_what_terraform_names_with_the_same_prefix(terraform):
    build = read_cloudbuild()
    assert build["substitutions"]["_NAME_PREFIX"] == ""
    for step in deploy_steps(build).values():
        deployed = deployment_from_cloudbuild(step)
        assert deployed.name.startswith("{name_prefix}")
        assert deployed.env["IOT_PUBSUB_PREFIX"] == "{name_prefix}"
        assert deployed.env["IOT_FIRESTORE_DATABASE"] == "{firestore_database}"
        assert deployed.service_account.startswith("{name_prefix}iot-")
        assert all(secret.startswith("{name_prefix}iot-") for secret in deployed.secrets.values())
    images = [arg for step in build["steps"] for arg in step["args"] if "docker.pkg.dev" in arg]
    assert images and all("/${_NAME_PREFIX}${_REPOSITORY}/" in arg for arg in images)
    assert terraform.resolve(terraform.locals["image"]).startswith(
        "{region}-docker.pkg.dev/{project_id}/{name_prefix}{artifact_repository}/")


def _check(prefix: str, database: str | None = None) -> subprocess.CompletedProcess:
    """The build's check step with ``_NAME_PREFIX`` set to ``prefix`` and ``_FIRESTORE_DATABASE`` to ``database``
    (default: the one terraform gives that environment)."""
    build = read_cloudbuild()
    main = database if database is not None else (f"{prefix}iot" if prefix else "(default)")
    values = {**build["substitutions"], "COMMIT_SHA": "abc", "_ELASTICSEARCH_URL": "https://es", "_NAME_PREFIX": prefix,
              "_FIRESTORE_DATABASE": main}
    return subprocess.run(["bash", "-c", check_step_script(build, values)], capture_output=True, text=True, timeout=30)


@pytest.mark.integration  # runs bash
@pytest.mark.parametrize("environment", ["", "staging", "e2", "Staging", "2nd", "a-b", "toolongname"])
def test_the_build_accepts_the_prefix_of_exactly_the_environments_terraform_accepts(environment):
    rule = re.search(r'regex\("(.+?)", var\.environment\)', (TERRAFORM / "variables.tf").read_text()).group(1)
    accepted = bool(re.fullmatch(rule, environment))
    assert accepted == (environment in ("", "staging", "e2"))
    result = _check(f"{environment}-" if environment else "")
    assert (result.returncode == 0) == accepted, result.stdout + result.stderr


@pytest.mark.integration  # runs bash
@pytest.mark.parametrize("prefix, database", [("", "iot"), ("staging-", "(default)"), ("staging-", "prod-iot")])
def test_the_build_stops_on_a_main_database_terraform_would_not_give_that_environment(prefix, database):
    result = _check(prefix, database)
    assert result.returncode != 0 and "_FIRESTORE_DATABASE is" in result.stdout


@pytest.mark.integration  # runs bash
def test_the_build_stops_on_a_prefix_without_its_dash():
    result = _check("staging")
    assert result.returncode != 0 and "_NAME_PREFIX is empty or ENVIRONMENT-, not 'staging'" in result.stdout


def test_state_is_kept_in_gcs_with_bucket_and_prefix_given_at_init(terraform):
    (settings,) = terraform.blocks["terraform"]
    (backend,) = settings["backend"]
    assert backend == {"gcs": {}}  # partial configuration: nothing environment-specific in the code
    readme = (ROOT / "README.md").read_text()
    init = re.search(r'terraform init -backend-config="bucket=\$\{PROJECT\}-tfstate" '
                     r'-backend-config="prefix=iot/\$\{ENVIRONMENT:-default\}"', readme)
    assert init, "the README shows terraform init with the state bucket and the environment's prefix"
    assert "terraform -chdir=terraform/bootstrap apply" in readme


def test_the_bootstrap_bucket_is_versioned_private_and_kept():
    config = load_hcl(BOOTSTRAP)
    bucket = next(entry["google_storage_bucket"]["state"] for entry in config["resource"]
                  if "google_storage_bucket" in entry)
    assert bucket["name"] == "${var.project_id}-tfstate"
    assert bucket["versioning"] == [{"enabled": True}]
    assert bucket["uniform_bucket_level_access"] is True and bucket["public_access_prevention"] == "enforced"
    assert bucket["force_destroy"] is False and bucket["lifecycle"] == [{"prevent_destroy": True}]
    (settings,) = config["terraform"]
    assert "backend" not in settings  # its own state stays local: it creates the bucket the others use
