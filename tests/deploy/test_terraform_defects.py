"""Terraform avoids what only production showed (issue 14): allUsers grants under domain-restricted sharing, grants
to a Pub/Sub service agent that does not exist yet, a certificate swapped while it provisions, and a first build
that cannot run as the deployer."""

from __future__ import annotations

import re

import pytest

from run.services import SERVICES
from tests.deploy.deployfiles import TERRAFORM, Terraform, tf_files

NAMES = [service.name for service in SERVICES]


@pytest.fixture(scope="module")
def terraform() -> Terraform:
    return Terraform.read()


def _text() -> str:
    return "\n".join(path.read_text() for path in tf_files())


def test_no_grant_to_all_users_and_public_services_skip_the_invoker_check(terraform):
    # The domain-restricted-sharing organisation policy refuses allUsers and allAuthenticatedUsers members.
    members = [str(body.get("member", body.get("members", ""))) for named in terraform.resources.values()
               for body in named.values()]
    assert members and not [member for member in members if re.search(r"all(Authenticated)?Users", member)]
    service = terraform.resource("google_cloud_run_v2_service.service")
    assert service["invoker_iam_disabled"] == "${each.value.public}"
    public = {name for name in NAMES if terraform.locals["services"][name]["public"]}
    assert public == set(NAMES) - {"pipeline", "rules"}
    # The pipeline and the rules service keep the check, and only the push account may invoke them.
    invokers = terraform.resources["google_cloud_run_v2_service_iam_member"]
    assert {name: body["role"] for name, body in invokers.items()} == {
        "pipeline_invoker": "roles/run.invoker", "rules_invoker": "roles/run.invoker", "deployer_admin": "roles/run.admin"}
    for name in ("pipeline_invoker", "rules_invoker"):
        assert invokers[name]["member"] == "serviceAccount:${google_service_account.pubsub_push.email}"


def test_the_pubsub_service_agent_is_created_before_it_is_granted_anything(terraform):
    identity = terraform.resource("google_project_service_identity.pubsub")
    assert identity["service"] == "pubsub.googleapis.com"
    assert identity["provider"] in ("${google-beta}", "google-beta")
    assert terraform.locals["pubsub_service_agent"] == "${google_project_service_identity.pubsub.member}"
    grants = [body for named in terraform.resources.values() for body in named.values()
              if "gcp-sa-pubsub" in str(body.get("member", "")) or body.get("member") == "${local.pubsub_service_agent}"]
    # Token creator on the push account, dead-letter publisher, and subscriber on each dead-lettering subscription:
    # the indexer's, the rules service's and the operators' extensions'.
    assert len(grants) == 5
    assert all(grant["member"] == "${local.pubsub_service_agent}" for grant in grants)
    # No grant spells the agent's address itself, which would carry no dependency on its creation.
    assert "gcp-sa-pubsub" not in _text()


def test_each_host_has_its_own_certificate_so_a_change_never_detaches_a_working_one(terraform):
    certificate = terraform.resource("google_compute_managed_ssl_certificate.lb")
    assert certificate["for_each"] == "${toset(local.certificate_domains)}"
    assert certificate["managed"][0]["domains"] == ["${each.key}"]
    # Named after its host: another host is another certificate, never a replacement of this one.
    assert "each.key" in certificate["name"] and "local.certificate_domains" not in certificate["name"]
    assert certificate["lifecycle"][0]["create_before_destroy"] is True
    proxy = terraform.resource("google_compute_target_https_proxy.https")
    assert proxy["ssl_certificates"] == (
        "${[for domain in local.certificate_domains : google_compute_managed_ssl_certificate.lb[domain].id]}")
    assert terraform.locals["certificate_domains"].startswith("${concat([var.domain]")  # the console's host first


def test_the_first_build_target_brings_the_deployer_and_every_grant_it_builds_with(terraform):
    needs = terraform.resource("terraform_data.first_build")["depends_on"]
    assert set(needs) >= {
        "${google_service_account.deployer}",
        "${google_artifact_registry_repository_iam_member.deployer_writer}",  # push the image
        "${google_project_iam_member.deployer}",  # write the build log
        "${google_storage_bucket_iam_member.deployer_reads_sources}",  # read what gcloud builds submit uploaded
        "${google_artifact_registry_repository.images}",
        "${google_secret_manager_secret.secret}",
    }
    assert set(terraform.resource("google_project_iam_member.deployer")["for_each"].split('"')[1::2]) == {
        "roles/run.developer", "roles/logging.logWriter"}
    bucket = terraform.resource("google_storage_bucket.build_source")
    # gcloud builds submit stages sources in gs://PROJECT_ID_cloudbuild/source unless told otherwise (the README tells
    # it the environment's bucket).
    assert bucket["name"] == "${var.project_id}_${local.name_prefix}cloudbuild"
    assert bucket["public_access_prevention"] == "enforced"
    reads = terraform.resource("google_storage_bucket_iam_member.deployer_reads_sources")
    assert (reads["role"], reads["bucket"]) == ("roles/storage.objectViewer",
                                                "${google_storage_bucket.build_source.name}")
    assert reads["member"] == "serviceAccount:${google_service_account.deployer.email}"


def test_the_apis_terraform_uses_are_enabled_by_terraform(terraform):
    apis = set(terraform.locals["apis"])
    assert {"iam.googleapis.com", "storage.googleapis.com", "pubsub.googleapis.com", "run.googleapis.com",
            "compute.googleapis.com", "cloudbuild.googleapis.com"} <= apis
    assert (TERRAFORM / "project.tf").exists()
