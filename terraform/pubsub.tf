# Pub/Sub: the telemetry topic, the push subscription to the pipeline with OIDC and a dead-letter policy, and
# the dead-letter topic with a pull subscription that keeps dead letters for inspection. (Device-control nudges go
# through Firestore inboxes, not Pub/Sub: docs/device-control.md.)
#
# Names and policy come from infra/pubsub_topology.json, the file the local bootstrap reads too; names get the
# environment's prefix, which the services read from IOT_PUBSUB_PREFIX (services.tf).

locals {
  topology = jsondecode(file("${path.module}/../infra/pubsub_topology.json"))

  # The topics services may publish to (services.tf), by their field in the topology file.
  topic_ids = {
    topic        = google_pubsub_topic.telemetry.id
    alerts_topic = google_pubsub_topic.alerts.id # rules.tf
  }
}

resource "google_pubsub_topic" "telemetry" {
  #checkov:skip=CKV_GCP_83: Google-managed encryption; telemetry is not worth a customer-managed KMS key by default
  name = "${local.name_prefix}${local.topology.topic}"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83: Google-managed encryption, as for the telemetry topic it receives from
  name = "${local.name_prefix}${local.topology.dead_letter_topic}"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription" "indexer" {
  name                       = "${local.name_prefix}${local.topology.push_subscription}"
  topic                      = google_pubsub_topic.telemetry.id
  ack_deadline_seconds       = local.topology.ack_deadline_seconds
  message_retention_duration = local.topology.message_retention

  push_config {
    push_endpoint = "${local.pipeline_url}${local.topology.push_path}"
    # Cloud Run (no unauthenticated invocations) and the pipeline both check this token.
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = local.pipeline_url
    }
  }

  # The pipeline answers non-2xx while Elasticsearch refuses; back off instead of hammering it, and after
  # max_delivery_attempts park the message on the dead-letter topic. Together they set the outage budget
  # before dead-lettering (8.7 h at the least; docs/reliability.md).
  retry_policy {
    minimum_backoff = local.topology.min_retry_delay
    maximum_backoff = local.topology.max_retry_delay
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = local.topology.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expire, however long no message arrives
  }

  depends_on = [google_cloud_run_v2_service_iam_member.pipeline_invoker]
}

resource "google_pubsub_subscription" "dead_letter_hold" {
  name                       = "${local.name_prefix}${local.topology.dead_letter_subscription}"
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = local.topology.ack_deadline_seconds
  message_retention_duration = local.topology.message_retention

  expiration_policy {
    ttl = ""
  }
}
