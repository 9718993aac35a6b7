# Secret Manager secrets. Terraform creates the secrets and who may read them, never their values: values
# are added as versions out of band (README.md, "Secrets"), so they never enter the terraform state.

locals {
  # Each secret: what it holds, and the cloudbuild.yaml substitution naming the version every revision mounts.
  secrets = {
    "iot-signing-key" = {
      description  = "PEM of the current RSA private key, which signs user, device and consumer tokens (IOT_SIGNING_KEY)."
      substitution = "_SIGNING_KEY_VERSION"
    }
    "iot-jwks" = {
      description  = "JWKS of the public keys every service accepts tokens of (IOT_JWKS): the current key, and during a rotation the previous or next one."
      substitution = "_JWKS_VERSION"
    }
    "iot-admin-password" = {
      description  = "Password of the bootstrapped admin account (IOT_ADMIN_PASSWORD)."
      substitution = "_ADMIN_PASSWORD_VERSION"
    }
    "iot-elasticsearch-writer-key" = {
      description  = "Elasticsearch API key of the pipeline (ELASTICSEARCH_API_KEY): the index template and writes to telemetry-*."
      substitution = "_ELASTICSEARCH_WRITER_KEY_VERSION"
    }
    "iot-elasticsearch-reader-key" = {
      description  = "Read-only Elasticsearch API key of api-data (ELASTICSEARCH_API_KEY) on telemetry-*."
      substitution = "_ELASTICSEARCH_READER_KEY_VERSION"
    }
  }

  # Pinned versions, never "latest": Cloud Run resolves "latest" whenever an instance starts, so during a rotation
  # old and new instances would hold different keys. cloudbuild.yaml's substitutions are the one place the numbers
  # are set (a rotation is a reviewed commit that Cloud Build deploys), and terraform reads the same numbers, so an
  # apply never moves a service to another version than the last build deployed.
  secret_versions = {
    for secret, entry in local.secrets :
    secret => yamldecode(file("${path.module}/../cloudbuild.yaml")).substitutions[entry.substitution]
  }

  # One grant per (service, secret) the service mounts, and nothing else.
  secret_grants = merge([
    for name, service in local.services : {
      for secret in values(service.secrets) : "${name}/${secret}" => { service = name, secret = secret }
    }
  ]...)
}

resource "google_secret_manager_secret" "secret" {
  for_each = local.secrets

  secret_id = "${local.name_prefix}${each.key}"
  labels    = { app = "iot-platform" }

  replication {
    auto {}
  }

  annotations = { description = each.value.description }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.secret_grants

  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service[each.value.service].email}"
}
