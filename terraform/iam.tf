# Identities: one service account per Cloud Run service with only what that service does, the account
# Pub/Sub pushes as, and the account Cloud Build deploys as.

# Enabling pubsub.googleapis.com does not create Pub/Sub's service agent at once; granting it a role before it exists
# fails on a fresh project. This creates it (generateServiceIdentity; google-beta only) and every grant below
# references it, so terraform orders them after it.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [google_project_service.enabled]
}

locals {
  pubsub_service_agent = google_project_service_identity.pubsub.member
}

resource "google_service_account" "service" {
  for_each = local.services

  account_id   = "${local.name_prefix}iot-${each.key}"
  display_name = "IoT platform: ${each.key}"
  description  = "Runtime identity of the Cloud Run service ${each.key}."

  depends_on = [google_project_service.enabled]
}

# Firestore roles exist only at project level, where they would reach every database: each grant is conditioned on
# one database's name. Each service gets viewer or user on the (default) database, or nothing (web); only the
# services with `credentials = true` (api-users) get the credentials' database, so no other service, the
# internet-facing gateways least of all, can read a password hash.
resource "google_project_iam_member" "firestore" {
  for_each = { for name, service in local.services : name => service.firestore if service.firestore != null }

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.service[each.key].email}"

  condition {
    title       = "default-database-only"
    description = "The (default) Firestore database, not the credentials'."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${google_firestore_database.default.name}\""
  }
}

resource "google_project_iam_member" "credentials" {
  for_each = { for name, service in local.services : name => service if service.credentials }

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.service[each.key].email}"

  condition {
    title       = "credentials-database-only"
    description = "The credentials' Firestore database: password hashes, sign-in throttle, bootstrap records."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${google_firestore_database.restricted["credentials"].name}\""
  }
}

# Twins, commands and presence, the one Firestore database the internet-facing gateways may write: a role on it
# alone, so the gateways stay viewers of everything in (default).
resource "google_project_iam_member" "control" {
  for_each = { for name, service in local.services : name => service.control if service.control != null }

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.service[each.key].email}"

  condition {
    title       = "control-database-only"
    description = "The device-control Firestore database: devices' twins, commands and presence."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${google_firestore_database.restricted["control"].name}\""
  }
}

# Each service publishes to its `publishes` topics only: the gateways to telemetry, rules to alerts.
locals {
  publisher_grants = merge([for name, service in local.services : {
    for topic in service.publishes : "${name}/${topic}" => { service = name, topic = topic }
  }]...)
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.publisher_grants

  topic  = local.topic_ids[each.value.topic]
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.service[each.value.service].email}"
}

# No service account holds a Pub/Sub subscriber or consume role: Pub/Sub IAM has no resource-name conditions, so
# consuming one subscription means consuming all (seeking telemetry-indexer past pending readings, draining the
# dead-letter hold). Gateway instances get their nudges through Firestore inboxes (docs/security.md).

# Pub/Sub pushes to the pipeline as this account (run.invoker on the pipeline only: services.tf).
resource "google_service_account" "pubsub_push" {
  account_id   = "${local.name_prefix}iot-pubsub-push"
  display_name = "IoT platform: Pub/Sub push"
  description  = "Identity in the OIDC token of the telemetry-indexer push subscription."

  depends_on = [google_project_service.enabled]
}

# The Pub/Sub service agent mints the push OIDC tokens for that account...
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# ...and moves undeliverable messages: it must publish to the dead-letter topic and acknowledge on the
# source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  subscription = google_pubsub_subscription.indexer.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Cloud Build runs cloudbuild.yaml as this account: push the image, deploy revisions, run them as the
# service accounts above.
resource "google_service_account" "deployer" {
  account_id   = "${local.name_prefix}iot-deployer"
  display_name = "IoT platform: Cloud Build deployer"
  description  = "Builds and pushes the platform image and deploys the Cloud Run services (cloudbuild.yaml)."

  depends_on = [google_project_service.enabled]
}

resource "google_artifact_registry_repository_iam_member" "deployer_writer" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_project_iam_member" "deployer" {
  # run.developer deploys revisions, moves traffic and runs the smoke job; logWriter lets a build with a
  # user-chosen account write its log (cloudbuild.yaml: logging CLOUD_LOGGING_ONLY; Cloud Build's "Configure
  # user-specified service accounts").
  for_each = toset(["roles/run.developer", "roles/logging.logWriter"])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# --[no-]invoker-iam-check needs run.services.setIamPolicy, which run.developer lacks: run.admin on these ten
# services only, not on the project.
resource "google_cloud_run_v2_service_iam_member" "deployer_admin" {
  for_each = local.services

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.service[each.key].name
  role     = "roles/run.admin"
  member   = "serviceAccount:${google_service_account.deployer.email}"
}

# A revision runs as its service's account, the smoke job as its own: the deployer must be allowed to act as each.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = merge({ for name in keys(local.services) : name => google_service_account.service[name].name },
  { smoke = google_service_account.smoke.name })

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deployer.email}"
}

# `gcloud builds submit` uploads the source to gs://PROJECT_ID_PREFIXcloudbuild/source (README.md) and the build, running as the
# deployer, reads it from there. The bucket is made here rather than by the first `gcloud builds submit`, so the
# grant exists before the first build; gcloud uses a bucket of that name when the project owns it.
resource "google_storage_bucket" "build_source" {
  #checkov:skip=CKV_GCP_62: access logs of a bucket holding only uploaded build sources would cost more than they tell
  #checkov:skip=CKV_GCP_78: sources are uploaded anew for every build; versions of them would keep nothing of value
  name                        = "${var.project_id}_${local.name_prefix}cloudbuild"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_iam_member" "deployer_reads_sources" {
  bucket = google_storage_bucket.build_source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.deployer.email}"
}

# What the first build needs, as one target: `terraform apply -target=terraform_data.first_build` (README.md)
# creates the APIs, the image repository, the empty secrets and the deployer with every grant it builds with, so
# the very first `gcloud builds submit --service-account=...iot-deployer...` already runs as the deployer.
resource "terraform_data" "first_build" {
  depends_on = [
    google_project_service.enabled,
    google_artifact_registry_repository.images,
    google_secret_manager_secret.secret,
    google_service_account.deployer,
    google_artifact_registry_repository_iam_member.deployer_writer,
    google_project_iam_member.deployer,
    google_storage_bucket_iam_member.deployer_reads_sources,
  ]
}
