# APIs, the Artifact Registry repository and the Firestore database of the project.

locals {
  apis = [
    "artifactregistry.googleapis.com",
    "billingbudgets.googleapis.com", # the monthly budget (monitoring.tf)
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com", # the rules service's tick (rules.tf)
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # Pub/Sub mints the push OIDC tokens through it
    "monitoring.googleapis.com",     # alerts, the uptime check (monitoring.tf)
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com", # the build sources' bucket (iam.tf)
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  service = each.value
  # Other things in the project may use these APIs too; destroying this stack must not switch them off.
  disable_on_destroy = false
}

resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84: Google-managed encryption is enough for an image holding no secrets; CMEK would add a KMS key to run for no gain here
  location      = var.region
  repository_id = "${local.name_prefix}${var.artifact_repository}"
  description   = "Container images of the IoT platform (one image for every service)."
  format        = "DOCKER"

  docker_config {
    # Builds are tagged with their commit; a retried build of the same commit must be able to push its tag
    # again. Cloud Run pins the digest a tag had at deploy time, so a moved tag changes no running revision.
    immutable_tags = false
  }

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days; the 20 most recent images are kept whatever their age
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_firestore_database" "default" {
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}

# The credentials (password hashes, the sign-in throttle, bootstrap records) in a database of their own: project-level
# Firestore roles would reach every database, so every grant carries an IAM condition on the database's name
# (iam.tf), and only the services with `credentials = true` (api-users) are granted this one.
locals {
  credentials_database = "${local.name_prefix}iot-credentials" # run/services.py CREDENTIALS_DATABASE, prefixed
}

resource "google_firestore_database" "credentials" {
  name                              = local.credentials_database
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}

# Documents that only matter for a while carry an expiry timestamp; Firestore's TTL deletes them after it
# (within about a day), so neither collection grows without bound. The collection and field names are the
# code's (infra/adapters/firestore_rejections.py, infra/adapters/firestore.py, infra/adapters/firestore_control.py);
# tests/deploy checks they match.
locals {
  firestore_ttl_fields = {
    # refused telemetry, kept 30 days for its owner to read
    rejections = { database = "(default)", field = "expire_at" }
    # commands to devices, kept 30 days after they expire so their lifecycle stays visible
    commands = { database = "(default)", field = "purge_at" }
    # sign-in attempt windows (minutes long) and the addresses of recent sign-ins (90 days)
    signin_throttle = { database = local.credentials_database, field = "expires_at" }
  }
}

resource "google_firestore_field" "ttl" {
  for_each = local.firestore_ttl_fields

  database   = each.value.database
  collection = each.key
  field      = each.value.field

  ttl_config {}
  index_config {} # no query reads the field: skip its single-field indexes (and their write hot spot)

  depends_on = [google_firestore_database.default, google_firestore_database.credentials]
}

# A device's poll (and its connect, on WebSocket and MQTT) reads its unanswered commands that have not expired:
# equality on device_id, `in` on status and a range on expires_at, which Firestore serves only from a composite
# index (infra/adapters/firestore_control.py open_commands). Every other query of the platform uses the automatic
# single-field indexes.
resource "google_firestore_index" "open_commands" {
  database   = google_firestore_database.default.name
  collection = "commands"

  fields {
    field_path = "device_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "expires_at"
    order      = "ASCENDING"
  }
}
