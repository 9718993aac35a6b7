"""cloudbuild.yaml releases safely: one pinned Cloud CLI image, every build as the deployer, every service deployed
with no traffic under the candidate tag, smoke-tested by the job terraform declares, and only then promoted."""

from __future__ import annotations

import re

import pytest

from infra.config import ROOT
from run.services import SERVICES
from tests.deploy.deployfiles import CLOUDBUILD, Terraform, deploy_steps, read_cloudbuild, service_name, substitute

NAMES = [service.name for service in SERVICES]
FIRST_IMAGE = ROOT / "cloudbuild-first-image.yaml"
# Google's Cloud CLI image, pinned to a release: `VERSION-stable` is the variant Google recommends (migrate-docker-images).
CLI_IMAGE = re.compile(r"gcr\.io/google\.com/cloudsdktool/google-cloud-cli:\d+\.\d+\.\d+-stable")
DOCKER_BUILDER = "gcr.io/cloud-builders/docker"
DEPLOYER = "projects/$PROJECT/serviceAccounts/${PREFIX}iot-deployer@$PROJECT.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def build() -> dict:
    return read_cloudbuild()


@pytest.fixture(scope="module")
def terraform() -> Terraform:
    return Terraform.read()


def _step(build: dict, step_id: str) -> dict:
    return next(step for step in build["steps"] if step["id"] == step_id)


def test_every_gcloud_step_runs_the_same_pinned_cloud_cli_image(build):
    images = {step["name"] for step in build["steps"] if step["name"] != DOCKER_BUILDER}
    assert len(images) == 1, images
    (image,) = images
    assert CLI_IMAGE.fullmatch(image), image
    assert {step["name"] for step in read_cloudbuild(FIRST_IMAGE)["steps"]} == {DOCKER_BUILDER}
    # The README tells how to move it forward, naming the image in use.
    assert image in (ROOT / "README.md").read_text()


def test_every_service_is_deployed_with_no_traffic_under_the_candidate_tag(build, terraform):
    tag = terraform.locals["candidate_tag"]
    for name, step in deploy_steps(build).items():
        assert "--no-traffic" in step["args"], name
        assert f"--tag={tag}" in step["args"], name


def test_the_smoke_job_tests_the_candidates_of_this_commit_before_any_traffic_moves(build, terraform):
    job = terraform.resource("google_cloud_run_v2_job.smoke")
    container = job["template"][0]["template"][0]["containers"][0]
    assert container["command"] == ["python"]
    assert container["args"] == ["-m", "infra.ops.smoke", "--url-template", "${local.smoke_url_template}",
                                 "--tag", "${local.candidate_tag}"]
    # Tagged revisions answer at TAG---SERVICE-PROJECT_NUMBER.REGION.run.app.
    assert terraform.resolve(terraform.locals["smoke_url_template"]) == (
        "https://{tag}---{name_prefix}{service}-{project_number}.{region}.run.app")
    # The API groups admit only internal traffic: the job reaches run.app through the project's VPC.
    vpc = job["template"][0]["template"][0]["vpc_access"][0]
    assert vpc["egress"] == "ALL_TRAFFIC"
    assert terraform.resource("google_compute_subnetwork.smoke")["private_ip_google_access"] is True

    update, execute = _step(build, "smoke-image"), _step(build, "smoke")
    assert sorted(update["waitFor"]) == sorted(f"deploy-{name}" for name in NAMES)
    assert update["args"][:3] == ["run", "jobs", "update"]
    assert substitute(update["args"][3]) == terraform.resolve(job["name"]) == "{name_prefix}iot-smoke"
    assert any(arg.startswith("--image=") and arg.endswith(":$COMMIT_SHA") for arg in update["args"])
    assert execute["waitFor"] == ["smoke-image"]
    assert execute["args"][:3] == ["run", "jobs", "execute"] and "--wait" in execute["args"]
    assert substitute(execute["args"][3]) == "{name_prefix}iot-smoke"
    timeout = int(build["timeout"].removesuffix("s"))
    assert timeout >= int(job["template"][0]["template"][0]["timeout"].removesuffix("s")) + 600


def test_traffic_moves_to_every_candidate_only_after_the_smoke_test(build):
    promotions = {service_name(step["args"][3]): step for step in build["steps"]
                  if step["args"][:3] == ["run", "services", "update-traffic"]}
    assert sorted(promotions) == sorted(NAMES)
    for name, step in promotions.items():
        assert step["id"] == f"promote-{name}"
        assert step["waitFor"] == ["smoke"], name
        assert "--to-latest" in step["args"], name  # the candidate is the latest revision; later ones follow


def _commands(text: str, start: str) -> list[str]:
    """Every shell command of ``text`` that starts with ``start``, continuation lines joined (comment marks dropped)."""
    found = []
    for match in re.finditer(re.escape(start), text):
        if text[match.start() - 1] == "`":
            continue  # named in prose, not a command
        lines = []
        for line in text[match.start():].splitlines():
            lines.append(line.rstrip("\\").strip().lstrip("#").strip())
            if not line.endswith("\\"):
                break
        found.append(" ".join(lines))
    return found


def test_every_build_runs_as_the_deployer_from_the_first_one_on():
    readme = (ROOT / "README.md").read_text()
    submits = _commands(readme, "gcloud builds submit")
    assert len(submits) >= 2  # the first image, then every commit by hand
    assert f'DEPLOYER="{DEPLOYER}"' in readme
    for command in submits + _commands(readme, "gcloud builds triggers create"):
        assert re.search(r'--service-account[ =]"\$DEPLOYER"', command), command
    for command in submits:
        assert '--gcs-source-staging-dir "gs://${PROJECT}_${PREFIX}cloudbuild/source"' in command, command
        assert re.search(r"--config[ =](cloudbuild\.yaml|cloudbuild-first-image\.yaml)", command), command
    assert "terraform apply -target=terraform_data.first_build" in readme
    assert readme.index("-target=terraform_data.first_build") < readme.index("--config cloudbuild-first-image.yaml")
    for path in (CLOUDBUILD, FIRST_IMAGE):
        # A build running as a user-chosen service account must log to Cloud Logging (or a bucket of its own).
        assert read_cloudbuild(path)["options"]["logging"] == "CLOUD_LOGGING_ONLY", path.name
        for command in _commands(path.read_text(), "gcloud builds submit"):
            assert DEPLOYER in command, path.name


def test_the_first_image_is_the_one_terraform_creates_the_services_from(terraform):
    first = read_cloudbuild(FIRST_IMAGE)
    (build_step,) = first["steps"]
    assert build_step["args"][0] == "build" and build_step["args"][-1] == "."
    assert first["images"] == [arg.removeprefix("--tag=") for arg in build_step["args"] if arg.startswith("--tag=")]
    assert first["substitutions"]["_TAG"] == "initial"
    example = (ROOT / "terraform" / "terraform.tfvars.example").read_text()
    assert re.search(r'image_tag\s*=\s*"initial"', example)


def test_the_readme_has_one_deploy_path_and_documents_rollback():
    readme = (ROOT / "README.md").read_text()
    deploy = readme[readme.index("## Deploy to Google Cloud"):]
    assert "gcloud run deploy" not in deploy  # no hand-deploy recipe that could drift from terraform
    assert "update-traffic" in deploy and "--to-revisions" in deploy
