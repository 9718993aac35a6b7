# Monitoring: who is told, and when. An e-mail channel (var.alert_email) receives every alert below and the budget's
# notifications: dead letters waiting, a service answering 5xx, slow pushes to the pipeline, the API failing its
# uptime check, and spending past the budget (var.billing_account).

locals {
  monitoring_label = var.environment == "" ? "IoT platform" : "IoT platform (${var.environment})"

  # A service alerts when more than this share of its requests answered 5xx over the window.
  error_ratio_threshold = 0.05
  error_window          = "300s"

  # p95 of the push latency to the pipeline above a tenth of the ack deadline (infra/pubsub_topology.json): Elasticsearch
  # is slow, long before pushes time out and turn into redeliveries.
  push_latency_p95_us = local.topology.ack_deadline_seconds / 10 * 1000000
}

resource "google_monitoring_notification_channel" "email" {
  display_name = "${local.monitoring_label}: on call"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.enabled]
}

# Any message on the dead-letter hold subscription is telemetry that Pub/Sub gave up delivering after the outage budget
# (docs/reliability.md): it stays there until replayed, so a single one pages.
resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "${local.monitoring_label}: dead letters waiting"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "${google_pubsub_subscription.dead_letter_hold.name} holds undelivered messages"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.label.subscription_id = \"${google_pubsub_subscription.dead_letter_hold.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Telemetry was dead-lettered after every delivery attempt to the pipeline failed (Elasticsearch down for longer than the outage budget, or a pipeline defect). Fix the cause, then replay: `python -m infra.ops.dead_letters replay --subscription ${google_pubsub_subscription.dead_letter_hold.name} --topic ${google_pubsub_topic.telemetry.name}` (README, Pipeline and storage)."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

# One policy per Cloud Run service: the share of its requests that answered 5xx.
resource "google_monitoring_alert_policy" "errors" {
  for_each = local.services

  display_name          = "${local.monitoring_label}: ${each.key} answers 5xx"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "more than ${local.error_ratio_threshold * 100} % of ${each.key}'s requests answered 5xx"
    condition_threshold {
      filter             = "resource.type = \"cloud_run_revision\" AND resource.label.service_name = \"${google_cloud_run_v2_service.service[each.key].name}\" AND metric.type = \"run.googleapis.com/request_count\" AND metric.label.response_code_class = \"5xx\""
      denominator_filter = "resource.type = \"cloud_run_revision\" AND resource.label.service_name = \"${google_cloud_run_v2_service.service[each.key].name}\" AND metric.type = \"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = local.error_ratio_threshold
      duration           = local.error_window
      aggregations {
        alignment_period     = local.error_window
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = local.error_window
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "${each.key} answers 5xx to more than ${local.error_ratio_threshold * 100} % of its requests. Its logs: `gcloud logging read 'resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${google_cloud_run_v2_service.service[each.key].name}\" AND severity>=ERROR' --limit 50`. A release to blame is rolled back as README, Releases and rollback, says. The pipeline answers 503 on purpose while Elasticsearch refuses writes (Pub/Sub redelivers)."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "push_latency" {
  display_name          = "${local.monitoring_label}: slow pushes to the pipeline"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "p95 push latency of ${google_pubsub_subscription.indexer.name} above ${local.topology.ack_deadline_seconds / 10} s"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.label.subscription_id = \"${google_pubsub_subscription.indexer.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/push_request_latencies\""
      comparison      = "COMPARISON_GT"
      threshold_value = local.push_latency_p95_us # the metric is in microseconds
      duration        = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
        group_by_fields      = ["resource.label.subscription_id"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Pushes of telemetry to the pipeline are slow: Elasticsearch is probably overloaded. Check the cluster's health; past the ack deadline (${local.topology.ack_deadline_seconds} s) pushes become redeliveries, and after the outage budget dead letters."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

# The API as its users reach it: https://DOMAIN/healthz through the load balancer (certificate, URL map, web's /healthz).
resource "google_monitoring_uptime_check_config" "api" {
  display_name = "${local.monitoring_label}: https://${var.domain}/healthz"
  timeout      = "10s"
  period       = "60s"

  http_check {
    path         = "/healthz"
    port         = 443
    use_ssl      = true
    validate_ssl = true
    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = var.domain
    }
  }

  depends_on = [google_project_service.enabled]
}

# Down when the check fails from more than one of its regions within a minute (one region's network is not an outage).
resource "google_monitoring_alert_policy" "uptime" {
  display_name          = "${local.monitoring_label}: API down"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "https://${var.domain}/healthz fails from more than one region"
    condition_threshold {
      filter          = "resource.type = \"uptime_url\" AND metric.type = \"monitoring.googleapis.com/uptime_check/check_passed\" AND metric.label.check_id = \"${google_monitoring_uptime_check_config.api.uptime_check_id}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "60s"
      aggregations {
        alignment_period     = "1200s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.host"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The console and API at https://${var.domain}/ do not answer /healthz with 2xx. Check the load balancer's certificate (`gcloud compute ssl-certificates list`), the DNS record of ${var.domain} (terraform output lb_ip_address) and the web service."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

# The monthly budget of the project: notifications at half, 90 % and all of it, and when the month's forecast exceeds
# it. Skipped without var.billing_account (creating a budget needs a role on the billing account, not the project).
resource "google_billing_budget" "monthly" {
  count    = var.billing_account == null ? 0 : 1
  provider = google.billing

  billing_account = var.billing_account
  display_name    = substr("${local.monitoring_label} monthly", 0, 60)

  budget_filter {
    projects        = ["projects/${data.google_project.this.number}"]
    calendar_period = "MONTH"
  }

  amount {
    specified_amount {
      units = tostring(var.monthly_budget) # in the billing account's currency
    }
  }

  dynamic "threshold_rules" {
    for_each = [0.5, 0.9, 1.0]
    content {
      threshold_percent = threshold_rules.value
    }
  }

  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }

  all_updates_rule {
    monitoring_notification_channels = [google_monitoring_notification_channel.email.id]
  }

  depends_on = [google_project_service.enabled]
}
