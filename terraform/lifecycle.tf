# Data lifecycle (README: Data lifecycle): Cloud Scheduler calls the pipeline's ticks. Retention drops the monthly
# indices past IOT_RETENTION_MONTHS once a day; the deletion tick advances the deletion tasks every minute (a
# deletion starts erasing two cache lifetimes after it is requested, so a minute's tick adds at most a minute).
#
# The jobs carry the OIDC token of the pipeline's one invoker, iot-pubsub-push: the pipeline's invoker IAM grant
# (services.tf) and its token check (IOT_PUSH_AUDIENCE, IOT_PUSH_SERVICE_ACCOUNT) already admit exactly that account,
# and Cloud Scheduler counts as internal traffic for the pipeline's internal-only ingress.

locals {
  lifecycle_ticks = {
    # name => (schedule in UTC, path)
    retention = { schedule = "17 3 * * *", path = "/ticks/retention" }
    deletions = { schedule = "* * * * *", path = "/ticks/deletions" }
  }
}

resource "google_cloud_scheduler_job" "tick" {
  for_each = local.lifecycle_ticks

  name             = "${local.name_prefix}iot-${each.key}-tick"
  description      = "POST ${each.value.path} on the pipeline (data lifecycle)."
  region           = var.region
  schedule         = each.value.schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "300s" # the pipeline's request timeout (run/services.py PUSH_DEADLINE)

  retry_config {
    retry_count          = 3
    min_backoff_duration = "10s"
    max_backoff_duration = "60s"
  }

  http_target {
    http_method = "POST"
    uri         = "${local.pipeline_url}${each.value.path}"
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = local.pipeline_url
    }
  }

  depends_on = [google_project_service.enabled, google_cloud_run_v2_service_iam_member.pipeline_invoker]
}

# Cloud Scheduler's service agent mints the jobs' OIDC tokens for that account.
resource "google_service_account_iam_member" "scheduler_token_creator" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"

  depends_on = [google_project_service.enabled]
}
