# APIs, the Artifact Registry repository and the Firestore database of the project.

locals {
  apis = [
    "artifactregistry.googleapis.com",
    "billingbudgets.googleapis.com", # the monthly budget (monitoring.tf)
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com", # the data lifecycle ticks (lifecycle.tf) and the rules service's (rules.tf)
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

# The main database: (default) for the project's only environment (Firestore's free tier applies to it alone), and a
# database named after any further environment, which cannot have a (default) of its own. Services are told its name
# (IOT_FIRESTORE_DATABASE; cloudbuild.yaml's _FIRESTORE_DATABASE, which its check step holds to this rule).
locals {
  main_database = var.environment == "" ? "(default)" : "${local.name_prefix}iot"
}

resource "google_firestore_database" "default" {
  name                              = local.main_database
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}

# Databases of their own, because a project-level Firestore role would reach every database: each grant carries an
# IAM condition on one database's name (iam.tf).
# - credentials: password hashes, the sign-in throttle, bootstrap records; only the services with
#   `credentials = true` (api-users) are granted it.
# - control: devices' twins, commands and presence, which the internet-facing gateways write; with them in (default)
#   a gateway could rewrite users, devices (a key version: un-revoke a key) and grants. The gateways are viewers of
#   (default) and users of this one.
locals {
  credentials_database = "${local.name_prefix}iot-credentials" # run/permissions.py CREDENTIALS_DATABASE, prefixed
  control_database     = "${local.name_prefix}iot-control"     # run/permissions.py CONTROL_DATABASE, prefixed
  restricted_databases = { credentials = local.credentials_database, control = local.control_database }
}

resource "google_firestore_database" "restricted" {
  for_each = local.restricted_databases

  name                              = each.value
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}

moved {
  from = google_firestore_database.credentials
  to   = google_firestore_database.restricted["credentials"]
}

# Documents that only matter for a while carry an expiry timestamp; Firestore's TTL deletes them after it
# (within about a day), so neither collection grows without bound. The collection and field names are the
# code's (infra/adapters/firestore_rejections.py, infra/adapters/firestore.py, infra/adapters/firestore_control.py,
# infra/adapters/firestore_inbox.py);
# tests/deploy checks they match.
locals {
  firestore_ttl_fields = {
    # refused telemetry, kept 30 days for its owner to read
    rejections = { database = local.main_database, field = "expire_at" }
    # commands to devices, kept 30 days after they expire so their lifecycle stays visible
    commands = { database = local.control_database, field = "purge_at" }
    # finished deletion tasks, kept 31 days as tombstones (infra/domain/deletions.py TOMBSTONE_DAYS)
    deletions = { database = local.main_database, field = "purge_at" }
    # nudges in the gateway instances' inboxes (collection group inboxes/*/nudges), 10 minutes: a dead instance's
    # inbox empties itself
    nudges = { database = local.control_database, field = "purge_at" }
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

  depends_on = [google_firestore_database.default, google_firestore_database.restricted]
}

# A device's poll (and its connect, on WebSocket and MQTT) reads its unanswered commands that have not expired:
# equality on device_id, `in` on status and a range on expires_at, which Firestore serves only from a composite
# index (infra/adapters/firestore_control.py open_commands). Every other query of the platform uses the automatic
# single-field indexes.
resource "google_firestore_index" "open_commands" {
  database   = google_firestore_database.restricted["control"].name
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
