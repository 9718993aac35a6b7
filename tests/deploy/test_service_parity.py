"""run/services.py, terraform and cloudbuild.yaml describe the same Cloud Run services with the same settings."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.config import ROOT, VARIABLES, PubSubTopology
from run.compose import PrefixDispatcher
from run.services import CREDENTIALS_DATABASE, SERVICES
from tests.deploy.deployfiles import (
    Dockerfile,
    Terraform,
    deploy_steps,
    deployment_from_cloudbuild,
    deployment_from_terraform,
    read_cloudbuild,
)

NAMES = [service.name for service in SERVICES]
CLOUD_RUN_PORT = 8080  # the port Cloud Run sends requests to and sets in $PORT


@pytest.fixture(scope="module")
def terraform() -> Terraform:
    return Terraform.read()


@pytest.fixture(scope="module")
def build() -> dict:
    return read_cloudbuild()


def runnable_packages() -> set[str]:
    """Packages under run/ that are a service: an app factory (``create_app``) or an entry point (``main.py``)."""
    found = set()
    for init in (ROOT / "run").glob("*/__init__.py"):
        tree = ast.parse(init.read_text())
        factories = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "create_app"]
        if factories or (init.parent / "main.py").exists():
            found.add(init.parent.name)
    return found


def test_every_service_package_under_run_is_in_the_services_table():
    listed = {service.package for service in SERVICES}
    assert runnable_packages() <= listed
    assert all((ROOT / "run" / package / "__init__.py").exists() for package in listed)


def test_terraform_has_exactly_the_services_of_run_services(terraform):
    assert sorted(terraform.locals["services"]) == sorted(NAMES)


@pytest.mark.parametrize("service", SERVICES, ids=NAMES)
def test_terraform_service_has_the_settings_of_run_services(terraform, service):
    deployed = deployment_from_terraform(terraform, service.name)
    entry = terraform.locals["services"][service.name]
    assert deployed.name == "{name_prefix}" + service.name  # the environment's prefix (terraform var.environment)
    assert deployed.env["IOT_SERVICE"] == service.name
    assert deployed.port == CLOUD_RUN_PORT == int(Dockerfile.read().env["PORT"])
    assert deployed.concurrency == service.concurrency == service.threads
    assert deployed.timeout == service.timeout
    assert (deployed.cpu, deployed.memory) == (service.cpu, service.memory)
    assert (deployed.min_instances, deployed.max_instances) == (0, service.max_instances)
    assert entry["paths"] == list(service.paths)


@pytest.mark.parametrize("name", NAMES)
def test_cloudbuild_deploys_the_service_as_terraform_declares_it(terraform, build, name):
    steps = deploy_steps(build)
    assert name in steps, f"cloudbuild.yaml has no `gcloud run deploy {name}` step"
    assert steps[name]["id"] == f"deploy-{name}"
    assert deployment_from_cloudbuild(steps[name]) == deployment_from_terraform(terraform, name)


def test_cloudbuild_deploys_nothing_else(build):
    assert sorted(deploy_steps(build)) == sorted(NAMES)


def test_cloudbuild_builds_once_then_deploys_every_service_in_parallel(build):
    ids = [step["id"] for step in build["steps"]]
    assert ids.index("build") < ids.index("push") < min(ids.index(f"deploy-{name}") for name in NAMES)
    assert [step for step in build["steps"] if step["args"][:1] == ["build"]] == [build["steps"][ids.index("build")]]
    for name, step in deploy_steps(build).items():
        assert step["waitFor"] == ["push"], name
        image = next(arg for arg in step["args"] if arg.startswith("--image="))
        assert image.endswith(":$COMMIT_SHA"), name
    assert any(arg.endswith(":$SHORT_SHA") for arg in build["steps"][ids.index("build")]["args"])


def test_websocket_services_get_the_long_timeout(terraform):
    for name in ("gateway-ws", "gateway-mqtt"):
        assert deployment_from_terraform(terraform, name).timeout == 3600


def test_every_deployed_variable_is_a_documented_setting(terraform):
    documented = {variable.name for variable in VARIABLES} | {"IOT_SERVICE"}
    for name in NAMES:
        deployed = deployment_from_terraform(terraform, name)
        assert set(deployed.env) | set(deployed.secrets) <= documented, name


def test_secrets_reach_only_the_services_that_need_them(terraform):
    holders: dict[str, set[str]] = {}
    for name in NAMES:
        for variable in deployment_from_terraform(terraform, name).secrets:
            holders.setdefault(variable, set()).add(name)
    # Only token issuers hold the private key. Every service that verifies tokens, issuers included, holds the key
    # set, so during a rotation each accepts the tokens of old and new issuers alike (api-users publishes it).
    assert holders["IOT_SIGNING_KEY"] == {"api-users", "api-devices", "api-consumers"}
    assert holders["IOT_JWKS"] == {"api-users", "api-devices", "api-consumers", "api-data", "gateway-http",
                                   "gateway-ws", "gateway-mqtt"}
    assert holders["IOT_ADMIN_PASSWORD"] == {"api-users"}
    assert holders["ELASTICSEARCH_API_KEY"] == {"api-data", "pipeline"}
    # api-data, facing the internet, reads with a key that cannot write; the pipeline writes with its own.
    keys = {name: deployment_from_terraform(terraform, name).secrets["ELASTICSEARCH_API_KEY"]
            for name in ("api-data", "pipeline")}
    assert keys["api-data"] != keys["pipeline"]
    assert set(terraform.locals["secrets"]) == {secret for name in NAMES
                                                for secret in terraform.locals["services"][name]["secrets"].values()}


def test_only_the_gateways_publish_telemetry_and_the_pipeline_is_private(terraform):
    services = terraform.locals["services"]
    assert {name for name in NAMES if "topic" in services[name]["publishes"]} == {
        "gateway-http", "gateway-ws", "gateway-mqtt"}
    pipeline = deployment_from_terraform(terraform, "pipeline")
    assert (pipeline.public, pipeline.ingress) == (False, "internal")
    assert pipeline.env["IOT_PUSH_AUDIENCE"] == "https://{name_prefix}pipeline-{project_number}.{region}.run.app"
    for name in NAMES:
        if services[name]["paths"]:
            assert deployment_from_terraform(terraform, name).ingress == "internal-and-cloud-load-balancing", name


def test_the_gateways_write_device_state_and_nobody_publishes_nudges(terraform):
    services = terraform.locals["services"]
    # nudges go through inboxes in the device-control database, no topic (docs/device-control.md)
    assert {name: services[name]["publishes"] for name in NAMES if services[name]["publishes"]} == {
        "gateway-http": ["topic"], "gateway-ws": ["topic"], "gateway-mqtt": ["topic"], "rules": ["alerts_topic"]}
    assert terraform.locals["topic_ids"] == {"topic": "${google_pubsub_topic.telemetry.id}",
                                             "alerts_topic": "${google_pubsub_topic.alerts.id}"}
    assert set(terraform.resources["google_pubsub_topic"]) == {"telemetry", "dead_letter", "alerts"}
    assert services["api-devices"]["control"] == "roles/datastore.user"
    # twins (reported state), commands (delivered, answered) and presence are written by the gateways, in the
    # device-control database; they only read (default)
    for name in ("gateway-http", "gateway-ws", "gateway-mqtt"):
        assert (services[name]["firestore"], services[name]["control"]) == (
            "roles/datastore.viewer", "roles/datastore.user"), name


def test_pubsub_resources_are_named_by_the_topology_file(terraform):
    assert terraform.locals["topology"] == '${jsondecode(file("${path.module}/../infra/pubsub_topology.json"))}'
    topology = PubSubTopology.load()
    names = {
        "google_pubsub_topic.telemetry": topology.topic,
        "google_pubsub_topic.dead_letter": topology.dead_letter_topic,
        "google_pubsub_subscription.indexer": topology.push_subscription,
        "google_pubsub_subscription.dead_letter_hold": topology.dead_letter_subscription,
        "google_pubsub_topic.alerts": topology.alerts_topic,
        "google_pubsub_subscription.rules": topology.rules_subscription,
    }
    fields = {value: key for key, value in vars(topology).items()}
    for address, expected in names.items():
        name = terraform.resource(address)["name"]
        assert name == "${local.name_prefix}${local.topology.%s}" % fields[expected], address
    # Every service is told the prefix, so the code's names (PubSubTopology.load(prefix)) are terraform's.
    for service in NAMES:
        assert deployment_from_terraform(terraform, service).env["IOT_PUBSUB_PREFIX"] == "{name_prefix}", service
    indexer = terraform.resource("google_pubsub_subscription.indexer")
    assert indexer["dead_letter_policy"][0]["max_delivery_attempts"] == "${local.topology.max_delivery_attempts}"
    assert indexer["retry_policy"][0] == {"minimum_backoff": "${local.topology.min_retry_delay}",
                                          "maximum_backoff": "${local.topology.max_retry_delay}"}
    push = indexer["push_config"][0]
    assert push["push_endpoint"] == "${local.pipeline_url}${local.topology.push_path}"
    assert push["oidc_token"][0]["audience"] == "${local.pipeline_url}"
    assert json.loads((ROOT / "infra" / "pubsub_topology.json").read_text())["push_path"] == "/pubsub/push"


def _load_balancer_route(terraform: Terraform, path: str) -> str:
    """The service terraform's URL map sends ``path`` to: the longest matching path rule, else the "/" service.

    Mirrors loadbalancer.tf, where each prefix becomes the rules ``prefix`` and ``prefix/*``.
    """
    best, best_length = None, -1
    for name, service in terraform.locals["services"].items():
        if "/" in service["paths"]:
            continue
        for prefix in service["paths"]:
            for rule in (prefix, prefix + "/*"):
                matches = path.startswith(rule[:-1]) if rule.endswith("/*") else path == rule
                if matches and len(rule) > best_length:
                    best, best_length = name, len(rule)
    return best or next(name for name, service in terraform.locals["services"].items() if "/" in service["paths"])


@pytest.mark.parametrize("path", [
    "/", "/index.html", "/static/app.js", "/api/users", "/api/users/signin", "/api/users/u1/", "/.well-known/jwks.json",
    "/api/devices", "/api/devices/d1/sensors/", "/api/consumers", "/api/consumers/c1/sensors/s1",
    "/api/consumers/consume", "/api/consumers/consume/s1/_search", "/api/sensors/s1/data", "/api/openapi.json",
])
def test_load_balancer_routes_like_the_local_composition(terraform, path):
    apps = {name: name for name in NAMES}
    routes = {prefix: name for name, service in terraform.locals["services"].items()
              for prefix in service["paths"] if prefix != "/"}
    local = PrefixDispatcher(routes, "web").app_for(path)
    assert _load_balancer_route(terraform, path) == apps[local]


@pytest.mark.integration  # runs the gcloud CLI
@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
def test_gcloud_accepts_every_gcloud_step(build, tmp_path):
    # With an empty configuration gcloud parses every flag, then stops before any request because no
    # account is active: that message proves the arguments (flag names and probe keys) are valid.
    substitutions = {"${_NAME_PREFIX}": "", "$PROJECT_ID": "p", "$PROJECT_NUMBER": "1", "$COMMIT_SHA": "abc",
                     "${_REGION}": "europe-west1",
                     "${_REPOSITORY}": "iot", "${_IMAGE}": "iot-platform", "${_ELASTICSEARCH_URL}": "https://es",
                     "${_LOG_LEVEL}": "INFO"}
    substitutions.update({f"${{{name}}}": value for name, value in build["substitutions"].items()
                          if name.endswith("_VERSION")})
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLOUDSDK_", "GOOGLE_"))}
    env.update(CLOUDSDK_CONFIG=str(tmp_path), CLOUDSDK_CORE_DISABLE_PROMPTS="1",
               CLOUDSDK_CORE_CHECK_GCE_METADATA="false", CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1")

    def run(step: dict) -> subprocess.CompletedProcess:
        args = []
        for arg in step["args"]:
            for key, value in substitutions.items():
                arg = arg.replace(key, value)
            args.append(arg)
        return subprocess.run(["gcloud", *args, "--project=p"], capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=120)

    steps = {step["id"]: step for step in build["steps"] if step.get("entrypoint") == "gcloud"}
    assert {"${_NAME_PREFIX}" + name for name in deploy_steps(build)} <= {step["args"][2] for step in steps.values()}
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(steps, pool.map(run, steps.values()), strict=True))
    for name, result in results.items():
        assert "You do not currently have an active account selected" in result.stderr, f"{name}: {result.stderr}"


def test_only_the_services_entitled_to_credentials_reach_their_database(terraform, build):
    """IAM is what keeps password hashes from the gateways: every Firestore grant is conditioned on one database,
    and the credentials' database is granted (and configured) exactly where run/services.py says."""
    entitled = {service.name for service in SERVICES if service.credentials}
    assert entitled == {"api-users"}
    assert terraform.resource("google_firestore_database.restricted")["for_each"] == "${local.restricted_databases}"
    database = terraform.resolve(terraform.locals["restricted_databases"]["credentials"])
    assert database == "{name_prefix}" + CREDENTIALS_DATABASE
    services = terraform.locals["services"]
    assert {name for name in NAMES if services[name]["credentials"]} == entitled
    for name in NAMES:
        expected = "{name_prefix}" + CREDENTIALS_DATABASE if name in entitled else None
        for deployed in (deployment_from_terraform(terraform, name),
                         deployment_from_cloudbuild(deploy_steps(build)[name])):
            assert deployed.env.get("IOT_CREDENTIALS_DATABASE") == expected, name
    default_grant = terraform.resource("google_project_iam_member.firestore")
    assert default_grant["condition"][0]["expression"] == (
        'resource.name == "projects/${var.project_id}/databases/${google_firestore_database.default.name}"')
    credentials_grant = terraform.resource("google_project_iam_member.credentials")
    assert "service.credentials" in credentials_grant["for_each"]
    assert credentials_grant["condition"][0]["expression"] == (
        'resource.name == "projects/${var.project_id}/databases/'
        '${google_firestore_database.restricted["credentials"].name}"')
