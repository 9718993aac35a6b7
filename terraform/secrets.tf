# Secret Manager secrets. Terraform creates the secrets and who may read them, never their values: values
# are added as versions out of band (README.md, "Secrets"), so they never enter the terraform state.

locals {
  secrets = {
    "iot-signing-key"              = "PEM of the RSA private key that signs user, device and consumer tokens (IOT_SIGNING_KEY)."
    "iot-jwks"                     = "JWKS of the public keys verifiers trust (IOT_JWKS); public, versioned with the signing key."
    "iot-admin-password"           = "Password of the bootstrapped admin account (IOT_ADMIN_PASSWORD)."
    "iot-elasticsearch-writer-key" = "Elasticsearch API key of the pipeline (ELASTICSEARCH_API_KEY): the index template and writes to telemetry-*."
    "iot-elasticsearch-reader-key" = "Read-only Elasticsearch API key of api-data (ELASTICSEARCH_API_KEY) on telemetry-*."
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

  secret_id = each.key
  labels    = { app = "iot-platform" }

  replication {
    auto {}
  }

  annotations = { description = each.value }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.secret_grants

  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service[each.value.service].email}"
}
