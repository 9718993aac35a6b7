"""The Firestore TTL policies and the composite index in terraform name the databases, collections and fields the
code writes and queries."""

from infra.adapters import firestore as repository
from infra.adapters import firestore_control as control
from infra.adapters import firestore_deletions as deletions
from infra.adapters import firestore_inbox as inbox
from infra.adapters import firestore_rejections as rejections
from run.services import CONTROL_DATABASE, CREDENTIALS_DATABASE
from tests.deploy.deployfiles import Terraform


def test_terraform_expires_exactly_the_documents_the_code_marks_for_expiry():
    terraform = Terraform.read()
    ttl = terraform.resource("google_firestore_field.ttl")
    assert terraform.resolve(ttl["for_each"]) == terraform.locals["firestore_ttl_fields"]
    fields = {collection: {key: terraform.resolve(value) for key, value in entry.items()}
              for collection, entry in terraform.locals["firestore_ttl_fields"].items()}
    assert fields == {
        # refused telemetry: the main database, (default) or the environment's
        rejections.COLLECTION: {"database": "{firestore_database}", "field": rejections.EXPIRY_FIELD},
        # the sign-in throttle is a credential: it lives in the credentials' database (the environment's)
        repository.SIGNIN_THROTTLE: {"database": "{name_prefix}" + CREDENTIALS_DATABASE,
                                     "field": repository.THROTTLE_EXPIRY_FIELD},
        # commands live in the device-control database (the environment's), which the gateways write
        control.COMMANDS: {"database": "{name_prefix}" + CONTROL_DATABASE, "field": control.COMMAND_EXPIRY_FIELD},
        deletions.COLLECTION: {"database": "{firestore_database}", "field": deletions.EXPIRY_FIELD},
        # nudges in the gateway instances' inboxes: a TTL policy on the collection group, in the same database
        inbox.NUDGES: {"database": "{name_prefix}" + CONTROL_DATABASE, "field": inbox.NUDGE_EXPIRY_FIELD},
    }
    assert ttl["ttl_config"] and ttl["collection"] == "${each.key}" and ttl["field"] == "${each.value.field}"
    assert ttl["database"] == "${each.value.database}"


def test_terraform_declares_the_composite_index_of_a_devices_open_commands():
    index = Terraform.read().resource("google_firestore_index.open_commands")
    assert (index["database"], index["collection"]) == (
        '${google_firestore_database.restricted["control"].name}', control.COMMANDS)
    assert [(f["field_path"], f["order"]) for f in index["fields"]] == [
        (name, "ASCENDING") for name in control.OPEN_COMMANDS_INDEX]
