"""Terraform's IAM grants and cloudbuild.yaml's flags give each service exactly its row of run/permissions.py.

Terraform is read back into the table's vocabulary (which Firestore role on which database, which topic, which
secrets, who may invoke) once its grant resources are shown to follow ``local.services``; any other grant to a
service's account fails, so a permission cannot be added beside the table either.
"""

from __future__ import annotations

import pytest

from infra.config import PubSubTopology
from run.permissions import ALERTS, NONE, PERMISSIONS, PUBLIC, PUBSUB_PUSH, READ, TELEMETRY, WRITE, Permissions, Secret
from run.services import SERVICES
from tests.deploy.deployfiles import Terraform, deploy_steps, deployment_from_cloudbuild, read_cloudbuild

NAMES = [service.name for service in SERVICES]
FIRESTORE_ROLES = {"roles/datastore.user": WRITE, "roles/datastore.viewer": READ, None: NONE}
SERVICE_ACCOUNT = "serviceAccount:${google_service_account.service[each.key].email}"
PUSH_ACCOUNT = "serviceAccount:${google_service_account.pubsub_push.email}"
# Every resource granting a service's own account something, and the field of local.services it follows.
SERVICE_GRANTS = {
    "google_project_iam_member.firestore": "firestore",
    "google_project_iam_member.credentials": "credentials",
    "google_pubsub_topic_iam_member.publisher": "publishes",
    "google_secret_manager_secret_iam_member.accessor": "secrets",
    "google_pubsub_topic_iam_member.alerts_publisher": "rules",  # the alerts topic: one service, named (rules.tf)
}


@pytest.fixture(scope="module")
def terraform() -> Terraform:
    return Terraform.read()


def invoked_by(terraform: Terraform) -> dict[str, str]:
    """Service name -> the one member granted run.invoker on it."""
    found = {}
    for body in terraform.resources.get("google_cloud_run_v2_service_iam_member", {}).values():
        if body["role"] != "roles/run.invoker":
            continue
        prefix, suffix = '${google_cloud_run_v2_service.service["', '"].name}'
        assert body["name"].startswith(prefix) and body["name"].endswith(suffix), body["name"]
        found[body["name"][len(prefix):-len(suffix)]] = body["member"]
    return found


def alerts_publisher(terraform: Terraform) -> str:
    """The one service terraform lets publish alerts."""
    member = terraform.resource("google_pubsub_topic_iam_member.alerts_publisher")["member"]
    prefix, suffix = 'serviceAccount:${google_service_account.service["', '"].email}'
    assert member.startswith(prefix) and member.endswith(suffix), member
    return member[len(prefix):-len(suffix)]


def permissions_from_terraform(terraform: Terraform, name: str) -> Permissions:
    """What terraform grants the service ``name``, in the table's vocabulary."""
    entry = terraform.locals["services"][name]
    invoker = invoked_by(terraform).get(name)
    if entry["public"]:
        assert invoker is None, f"{name} skips the invoker check: a run.invoker grant on it is meaningless"
    else:
        assert invoker == PUSH_ACCOUNT, f"{name} keeps the invoker check but nobody or someone else may invoke it"
    return Permissions(
        firestore=FIRESTORE_ROLES[entry["firestore"]],
        credentials=WRITE if entry["credentials"] else NONE,
        publishes=PubSubTopology.load().topic if entry["publishes"] else (
            ALERTS if alerts_publisher(terraform) == name else None),
        secrets=tuple(Secret(variable, secret) for variable, secret in entry["secrets"].items()),
        invokers=PUBLIC if entry["public"] else PUBSUB_PUSH,
    )


def test_every_service_has_one_row_and_only_the_telemetry_and_alerts_topics_are_published_to():
    assert sorted(PERMISSIONS) == sorted(NAMES)
    assert {row.publishes for row in PERMISSIONS.values()} <= {None, TELEMETRY, ALERTS}
    assert [name for name, row in PERMISSIONS.items() if row.publishes == ALERTS] == ["rules"]
    assert TELEMETRY == PubSubTopology.load().topic


def test_the_grant_resources_follow_local_services(terraform):
    firestore = terraform.resource("google_project_iam_member.firestore")
    assert firestore["for_each"] == ("${{for name, service in local.services : name => service.firestore "
                                     "if service.firestore != null}}")
    assert (firestore["role"], firestore["member"]) == ("${each.value}", SERVICE_ACCOUNT)
    assert firestore["condition"][0]["expression"] == (
        'resource.name == "projects/${var.project_id}/databases/(default)"')
    credentials = terraform.resource("google_project_iam_member.credentials")
    assert credentials["for_each"] == (
        "${{for name, service in local.services : name => service if service.credentials}}")
    assert (credentials["role"], credentials["member"]) == ("roles/datastore.user", SERVICE_ACCOUNT)
    assert credentials["condition"][0]["expression"] == (
        'resource.name == "projects/${var.project_id}/databases/${google_firestore_database.credentials.name}"')
    publisher = terraform.resource("google_pubsub_topic_iam_member.publisher")
    assert publisher["for_each"] == "${{for name, service in local.services : name => service if service.publishes}}"
    assert (publisher["topic"], publisher["role"], publisher["member"]) == (
        "${google_pubsub_topic.telemetry.id}", "roles/pubsub.publisher", SERVICE_ACCOUNT)
    assert terraform.resource("google_pubsub_topic.telemetry")["name"] == "${local.topology.topic}"
    accessor = terraform.resource("google_secret_manager_secret_iam_member.accessor")
    assert accessor["for_each"] == "${local.secret_grants}"
    assert accessor["role"] == "roles/secretmanager.secretAccessor"
    assert accessor["member"] == "serviceAccount:${google_service_account.service[each.value.service].email}"
    assert terraform.locals["secret_grants"] == (
        '${merge([for name, service in local.services : {for secret in values(service.secrets) : '
        '"${name}/${secret}" => {service = name, secret = secret}}] ...)}')


def test_no_other_resource_grants_a_service_account_anything(terraform):
    granting = {f"{rtype}.{name}" for rtype, named in terraform.resources.items() for name, body in named.items()
                if "google_service_account.service[" in str(body.get("member", ""))}
    assert granting == set(SERVICE_GRANTS)


@pytest.mark.parametrize("name", NAMES)
def test_terraform_grants_each_service_its_row(terraform, name):
    assert permissions_from_terraform(terraform, name) == PERMISSIONS[name]


@pytest.mark.parametrize("name", NAMES)
def test_cloudbuild_mounts_the_rows_secrets_and_sets_its_invoker_check(name):
    deployed = deployment_from_cloudbuild(deploy_steps(read_cloudbuild())[name])
    row = PERMISSIONS[name]
    assert {variable: reference.partition(":")[0] for variable, reference in deployed.secrets.items()} == {
        secret.variable: secret.secret_id for secret in row.secrets}
    assert deployed.public == (row.invokers == PUBLIC)
    assert deployed.service_account == f"iot-{name}@{{project_id}}.iam.gserviceaccount.com"


def test_the_check_sees_a_grant_the_table_lacks(terraform):
    """The comparison can fail: terraform with gateway-mqtt as a Firestore writer no longer matches its row."""
    entry = {**terraform.locals["services"]["gateway-mqtt"], "firestore": "roles/datastore.user"}
    services = {**terraform.locals["services"], "gateway-mqtt": entry}
    widened = Terraform(locals={**terraform.locals, "services": services}, resources=terraform.resources)
    assert permissions_from_terraform(widened, "gateway-mqtt") != PERMISSIONS["gateway-mqtt"]
