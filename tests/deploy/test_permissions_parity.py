"""Terraform's IAM grants and cloudbuild.yaml's flags give each service exactly its row of run/permissions.py.

Terraform is read back into the table's vocabulary (which Firestore role on which database, which topic, which
secrets, who may invoke) once its grant resources are shown to follow ``local.services``; any other grant to a
service's account fails, so a permission cannot be added beside the table either.
"""

from __future__ import annotations

import pytest

from infra.config import PubSubTopology
from run.permissions import (ALERTS, CONTROL_DATABASE, NONE, PERMISSIONS, PUBLIC, PUBSUB_PUSH, READ, TELEMETRY,
                             WRITE, Permissions, Secret)
from run.services import SERVICES
from tests.deploy.deployfiles import (Terraform, deploy_steps, deployment_from_cloudbuild, deployment_from_terraform,
                                     read_cloudbuild)

NAMES = [service.name for service in SERVICES]
FIRESTORE_ROLES = {"roles/datastore.user": WRITE, "roles/datastore.viewer": READ, None: NONE}
SERVICE_ACCOUNT = "serviceAccount:${google_service_account.service[each.key].email}"
GRANTED_ACCOUNT = "serviceAccount:${google_service_account.service[each.value.service].email}"  # per (service, x)
PUSH_ACCOUNT = "serviceAccount:${google_service_account.pubsub_push.email}"
# Every resource granting a service's own account something, and the field of local.services it follows.
SERVICE_GRANTS = {
    "google_project_iam_member.firestore": "firestore",
    "google_project_iam_member.credentials": "credentials",
    "google_project_iam_member.control": "control",
    "google_pubsub_topic_iam_member.publisher": "publishes",
    "google_secret_manager_secret_iam_member.accessor": "secrets",
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
        control=FIRESTORE_ROLES[entry["control"]],
        publishes=tuple(getattr(PubSubTopology.load(), field) for field in entry["publishes"]),
        secrets=tuple(Secret(variable, secret) for variable, secret in entry["secrets"].items()),
        invokers=PUBLIC if entry["public"] else PUBSUB_PUSH,
    )


def test_every_service_has_one_row_and_only_the_gateways_publish_to_telemetry():
    assert sorted(PERMISSIONS) == sorted(NAMES)
    assert {name for name, row in PERMISSIONS.items() if row.publishes} == {"gateway-http", "gateway-ws",
                                                                            "gateway-mqtt", "rules"}
    assert {topic for row in PERMISSIONS.values() for topic in row.publishes} == {TELEMETRY, ALERTS}
    assert [name for name, row in PERMISSIONS.items() if ALERTS in row.publishes] == ["rules"]
    assert (TELEMETRY, ALERTS) == (PubSubTopology.load().topic, PubSubTopology.load().alerts_topic)
    with pytest.raises(ValueError, match="unknown topic"):
        Permissions(publishes=("telemetry-dead-letter",))


def test_the_grant_resources_follow_local_services(terraform):
    firestore = terraform.resource("google_project_iam_member.firestore")
    assert firestore["for_each"] == ("${{for name, service in local.services : name => service.firestore "
                                     "if service.firestore != null}}")
    assert (firestore["role"], firestore["member"]) == ("${each.value}", SERVICE_ACCOUNT)
    assert firestore["condition"][0]["expression"] == (
        'resource.name == "projects/${var.project_id}/databases/${google_firestore_database.default.name}"')
    credentials = terraform.resource("google_project_iam_member.credentials")
    assert credentials["for_each"] == (
        "${{for name, service in local.services : name => service if service.credentials}}")
    assert (credentials["role"], credentials["member"]) == ("roles/datastore.user", SERVICE_ACCOUNT)
    assert credentials["condition"][0]["expression"] == (
        'resource.name == "projects/${var.project_id}/databases/'
        '${google_firestore_database.restricted["credentials"].name}"')
    control = terraform.resource("google_project_iam_member.control")
    assert control["for_each"] == ("${{for name, service in local.services : name => service.control "
                                   "if service.control != null}}")
    assert (control["role"], control["member"]) == ("${each.value}", SERVICE_ACCOUNT)
    assert control["condition"][0]["expression"] == (
        'resource.name == "projects/${var.project_id}/databases/'
        '${google_firestore_database.restricted["control"].name}"')
    publisher = terraform.resource("google_pubsub_topic_iam_member.publisher")
    assert publisher["for_each"] == "${local.publisher_grants}"
    assert terraform.locals["publisher_grants"] == (
        '${merge([for name, service in local.services : {for topic in service.publishes : "${name}/${topic}" => '
        '{service = name, topic = topic}}] ...)}')
    assert (publisher["topic"], publisher["role"], publisher["member"]) == (
        "${local.topic_ids[each.value.topic]}", "roles/pubsub.publisher", GRANTED_ACCOUNT)
    assert_topic_ids_name_the_topology_files_topics(terraform)
    accessor = terraform.resource("google_secret_manager_secret_iam_member.accessor")
    assert accessor["for_each"] == "${local.secret_grants}"
    assert accessor["role"] == "roles/secretmanager.secretAccessor"
    assert accessor["member"] == "serviceAccount:${google_service_account.service[each.value.service].email}"
    assert terraform.locals["secret_grants"] == (
        '${merge([for name, service in local.services : {for secret in values(service.secrets) : '
        '"${name}/${secret}" => {service = name, secret = secret}}] ...)}')


def test_no_service_may_consume_a_subscription(terraform):
    """Pub/Sub IAM has no resource-name conditions: a service able to consume one subscription could seek or drain
    every one (telemetry-indexer, the dead-letter hold). Only Pub/Sub's own agent consumes, on the push subscriptions
    (to forward their dead letters); gateway instances get their nudges through Firestore inboxes (docs/security.md)."""
    assert "google_project_iam_custom_role" not in terraform.resources
    assert all(set(entry) >= {"publishes"} and "subscribes" not in entry
               for entry in terraform.locals["services"].values())
    consuming = [(rtype, name) for rtype, named in terraform.resources.items() for name, body in named.items()
                 if str(body.get("role", "")).startswith(("roles/pubsub.subscriber", "roles/pubsub.editor",
                                                          "roles/pubsub.admin", "roles/editor", "roles/owner"))]
    assert {name for rtype, name in consuming if rtype == "google_pubsub_subscription_iam_member"} >= {
        "dead_letter_subscriber", "rules_dead_letter_subscriber"}
    assert {rtype for rtype, _ in consuming} == {"google_pubsub_subscription_iam_member"}
    for _, name in consuming:
        assert terraform.resource(f"google_pubsub_subscription_iam_member.{name}")["member"] == (
            "${local.pubsub_service_agent}"), name


def test_the_control_database_is_named_to_exactly_the_services_granted_it(terraform):
    """IOT_CONTROL_DATABASE (terraform and cloudbuild alike) where the row grants the control database, nowhere else;
    the gateways read (default) and write only there."""
    assert terraform.resource("google_firestore_database.restricted")["for_each"] == "${local.restricted_databases}"
    database = terraform.resolve(terraform.locals["restricted_databases"]["control"])
    assert database == "{name_prefix}" + CONTROL_DATABASE
    steps = deploy_steps(read_cloudbuild())
    for name in NAMES:
        expected = "{name_prefix}" + CONTROL_DATABASE if PERMISSIONS[name].control != NONE else None
        for deployed in (deployment_from_terraform(terraform, name), deployment_from_cloudbuild(steps[name])):
            assert deployed.env.get("IOT_CONTROL_DATABASE") == expected, name
    for name in ("gateway-http", "gateway-ws", "gateway-mqtt"):
        assert (PERMISSIONS[name].firestore, PERMISSIONS[name].control) == (READ, WRITE), name
    assert {name for name, row in PERMISSIONS.items() if row.control != NONE} == {
        "api-users", "api-devices", "gateway-http", "gateway-ws", "gateway-mqtt"}


def assert_topic_ids_name_the_topology_files_topics(terraform: Terraform) -> None:
    """local.topic_ids maps a field of infra/pubsub_topology.json to the topic resource of that (prefixed) name."""
    for field, reference in terraform.locals["topic_ids"].items():
        address = reference.removeprefix("${").removesuffix(".id}")
        assert terraform.resource(address)["name"] == "${local.name_prefix}${local.topology.%s}" % field, field


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
    # The environment's secrets carry its prefix (cloudbuild.yaml _NAME_PREFIX, terraform local.name_prefix).
    assert {variable: reference.partition(":")[0] for variable, reference in deployed.secrets.items()} == {
        secret.variable: "{name_prefix}" + secret.secret_id for secret in row.secrets}
    assert deployed.public == (row.invokers == PUBLIC)
    assert deployed.service_account == f"{{name_prefix}}iot-{name}@{{project_id}}.iam.gserviceaccount.com"


def test_the_check_sees_a_grant_the_table_lacks(terraform):
    """The comparison can fail: terraform making gateway-mqtt a writer of (default) no longer matches its row."""
    entry = {**terraform.locals["services"]["gateway-mqtt"], "firestore": "roles/datastore.user"}
    services = {**terraform.locals["services"], "gateway-mqtt": entry}
    widened = Terraform(locals={**terraform.locals, "services": services}, resources=terraform.resources)
    assert permissions_from_terraform(widened, "gateway-mqtt") != PERMISSIONS["gateway-mqtt"]
