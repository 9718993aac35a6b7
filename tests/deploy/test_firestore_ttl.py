"""The Firestore TTL policies in terraform name the collections and expiry fields the code writes."""

from infra.adapters import firestore_rejections as rejections

from infra.adapters import firestore as repository
from tests.deploy.deployfiles import Terraform


def test_terraform_expires_exactly_the_documents_the_code_marks_for_expiry():
    terraform = Terraform.read()
    ttl = terraform.resource("google_firestore_field.ttl")
    assert terraform.resolve(ttl["for_each"]) == terraform.locals["firestore_ttl_fields"]
    assert terraform.locals["firestore_ttl_fields"] == {
        rejections.COLLECTION: rejections.EXPIRY_FIELD,
        repository.SIGNIN_THROTTLE: repository.THROTTLE_EXPIRY_FIELD,
    }
    assert ttl["ttl_config"] and ttl["collection"] == "${each.key}" and ttl["field"] == "${each.value}"
