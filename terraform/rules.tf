# Rules and alerts (issue 16; docs/rules.md): the rules service's push subscription on telemetry, the alerts topic
# it publishes to, the Cloud Scheduler job that ticks its no-data rules, and operators' own push subscriptions on
# telemetry (the extension point).
#
# Names come from infra/pubsub_topology.json, as for the indexer (pubsub.tf).

locals {
  # Deterministic run.app URL of the rules service: push endpoint, tick target and OIDC audience (as pipeline_url).
  rules_url = "https://${local.name_prefix}rules-${data.google_project.this.number}.${var.region}.run.app"
}

resource "google_pubsub_topic" "alerts" {
  #checkov:skip=CKV_GCP_83: Google-managed encryption, as for the telemetry topic the alerts derive from
  name = "${local.name_prefix}${local.topology.alerts_topic}"

  depends_on = [google_project_service.enabled]
}

# The rules service publishes alert events there, on that one topic only: its `publishes` (services.tf, iam.tf).

# Only Pub/Sub and Cloud Scheduler, with the push service account's OIDC token, may invoke the rules service.
resource "google_cloud_run_v2_service_iam_member" "rules_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.service["rules"].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}

# A second push subscription on telemetry, so indexing and rule evaluation scale and fail independently; the same
# delivery, backoff and dead-letter policy as the indexer's.
resource "google_pubsub_subscription" "rules" {
  name                       = "${local.name_prefix}${local.topology.rules_subscription}"
  topic                      = google_pubsub_topic.telemetry.id
  ack_deadline_seconds       = local.topology.ack_deadline_seconds
  message_retention_duration = local.topology.message_retention

  push_config {
    push_endpoint = "${local.rules_url}${local.topology.push_path}"
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = local.rules_url
    }
  }

  retry_policy {
    minimum_backoff = local.topology.min_retry_delay
    maximum_backoff = local.topology.max_retry_delay
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = local.topology.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloud_run_v2_service_iam_member.rules_invoker]
}

resource "google_pubsub_subscription_iam_member" "rules_dead_letter_subscriber" {
  subscription = google_pubsub_subscription.rules.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# No-data rules need a clock: Cloud Run gives no CPU between requests, so Cloud Scheduler calls POST /tick every
# minute (`make dev` does the same every IOT_RULES_TICK_INTERVAL seconds).
resource "google_cloud_scheduler_job" "rules_tick" {
  name             = "${local.name_prefix}iot-rules-tick"
  region           = var.region
  schedule         = "* * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "300s"

  http_target {
    http_method = "POST"
    uri         = "${local.rules_url}/tick"
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = local.rules_url
    }
  }

  depends_on = [google_project_service.enabled, google_cloud_run_v2_service_iam_member.rules_invoker]
}

# The extension point: an operator's own processing as a further push subscription on telemetry, one per entry of
# var.extension_push_endpoints (name => HTTPS URL of their Cloud Run service), pushed with the push account's OIDC
# token (grant it roles/run.invoker on that service). docs/rules.md has a worked example (examples/rolling_average).
resource "google_pubsub_subscription" "extension" {
  for_each = var.extension_push_endpoints

  name                       = "${local.name_prefix}${local.topology.extension_subscription_prefix}${each.key}"
  topic                      = google_pubsub_topic.telemetry.id
  ack_deadline_seconds       = local.topology.ack_deadline_seconds
  message_retention_duration = local.topology.message_retention

  push_config {
    push_endpoint = each.value
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = each.value
    }
  }

  retry_policy {
    minimum_backoff = local.topology.min_retry_delay
    maximum_backoff = local.topology.max_retry_delay
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = local.topology.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription_iam_member" "extension_dead_letter_subscriber" {
  for_each = var.extension_push_endpoints

  subscription = google_pubsub_subscription.extension[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
