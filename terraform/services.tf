# The Cloud Run services: one per entry of run/services.py, all from the one platform image.
#
# local.services is the single table terraform uses; tests/deploy/test_service_parity.py proves it equals
# run/services.py (names, concurrency, timeout, cpu, memory, max instances, URL-map paths) and matches the
# deploy steps of cloudbuild.yaml (same settings, env and secrets).

locals {
  image = "${var.region}-docker.pkg.dev/${var.project_id}/${local.name_prefix}${var.artifact_repository}/${var.image_name}:${var.image_tag}"

  # Cloud Run sends every request to this port and sets PORT to it; `python -m run` listens on $PORT.
  container_port = 8080

  # Deterministic run.app URL of the pipeline: the push subscription's endpoint and OIDC audience. Built from
  # the project number rather than the service's own `uri` so the pipeline can be told its audience without
  # a dependency cycle.
  pipeline_url = "https://${local.name_prefix}pipeline-${data.google_project.this.number}.${var.region}.run.app"
  # The same for gateway-http, which the console shows in its device examples (always reachable, even when
  # a gateway_domains host is also routed to it).
  gateway_http_url = "https://${local.name_prefix}gateway-http-${data.google_project.this.number}.${var.region}.run.app/"

  # Startup probes. Cloud Run's default TCP probe (one attempt of up to 240 s) passes the moment the port
  # accepts connections: gunicorn binds before its worker imports the app and holds early requests in the
  # backlog, and a worker that fails to boot stops the container, so nothing faster or safer exists for most
  # services. A probe that ticks every second would add up to a second to every cold start. The pipeline's
  # /healthz installs the Elasticsearch index template, so only it is probed over HTTP before it gets pushes.
  tcp_probe     = { path = null, period_seconds = 240, timeout_seconds = 240, failure_threshold = 1 }
  healthz_probe = { path = "/healthz", period_seconds = 2, timeout_seconds = 2, failure_threshold = 30 }

  # Environment every service gets; IOT_SERVICE (its own name) is added per service.
  # IOT_PUBSUB_PREFIX: this environment's Pub/Sub names are the topology file's with its prefix (pubsub.tf).
  common_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    IOT_ENV              = "production"
    LOG_LEVEL            = var.log_level
    IOT_PUBSUB_PREFIX    = local.name_prefix
    # The main Firestore database's name (project.tf)
    IOT_FIRESTORE_DATABASE = local.main_database
  }

  # ingress: behind the load balancer, API groups and the console accept only its traffic (so the client
  # address is 2 entries from the right of X-Forwarded-For: IOT_TRUSTED_PROXY_HOPS); gateways are public
  # (devices use their run.app URL or a gateway_domains host); the pipeline takes only Pub/Sub pushes.
  # public: Cloud Run's invoker IAM check is off (callers authenticate with the platform's own JWTs); otherwise
  # Cloud Run IAM checks an identity token (the pipeline: Pub/Sub's OIDC token for the push service account).
  # secrets: env variable => Secret Manager secret id, mounted at its pinned version (secrets.tf). Every service
  # that verifies tokens gets the public JWKS (the current key, and the previous or next one of a rotation); token
  # issuers also get the current private signing key. api-data reads Elasticsearch with a read-only key, the
  # pipeline writes with its own.
  # firestore: role on the (default) Firestore database (readers of devices/sensors/grants get viewer, writers user).
  # credentials: datastore.user on the credentials' database (iam.tf); api-users only, as run/services.py says.
  # control: role on the device-control database (twins, commands, presence; iam.tf), whose name it gets in
  # IOT_CONTROL_DATABASE: the gateways write device state there, api-devices commands and desired states, api-users
  # deletes a user's with it. The gateways are only viewers of (default).
  # publishes: the topics it may publish to, as fields of infra/pubsub_topology.json (pubsub.tf local.topic_ids):
  # `topic` (telemetry: the gateways). No service consumes a subscription itself: api-devices nudges the gateway
  # instances through their inboxes in the device-control database (docs/device-control.md).
  services = {
    "api-users" = {
      concurrency   = 8
      timeout       = 60
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 20
      paths         = ["/api/users", "/.well-known"]
      ingress       = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
      public        = true
      env = {
        IOT_TRUSTED_PROXY_HOPS   = "2"
        IOT_CREDENTIALS_DATABASE = local.credentials_database
        IOT_CONTROL_DATABASE     = local.control_database
      }
      secrets     = { IOT_SIGNING_KEY = "iot-signing-key", IOT_JWKS = "iot-jwks", IOT_ADMIN_PASSWORD = "iot-admin-password" }
      firestore   = "roles/datastore.user"
      credentials = true
      control     = "roles/datastore.user"
      publishes   = []
      probe       = local.tcp_probe
    }
    "api-devices" = {
      concurrency   = 16
      timeout       = 60
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 20
      paths         = ["/api/devices", "/api/deletions", "/api/rules", "/api/alerts"]
      ingress       = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
      public        = true
      env           = { IOT_TRUSTED_PROXY_HOPS = "2", IOT_CONTROL_DATABASE = local.control_database }
      secrets       = { IOT_SIGNING_KEY = "iot-signing-key", IOT_JWKS = "iot-jwks" }
      firestore     = "roles/datastore.user"
      credentials   = false
      control       = "roles/datastore.user"
      publishes     = []
      probe         = local.tcp_probe
    }
    "api-consumers" = {
      concurrency   = 16
      timeout       = 60
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 20
      paths         = ["/api/consumers"]
      ingress       = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
      public        = true
      env           = { IOT_TRUSTED_PROXY_HOPS = "2" }
      secrets       = { IOT_SIGNING_KEY = "iot-signing-key", IOT_JWKS = "iot-jwks" }
      firestore     = "roles/datastore.user"
      credentials   = false
      control       = null
      publishes     = []
      probe         = local.tcp_probe
    }
    "api-data" = {
      concurrency   = 16
      timeout       = 60
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 20
      paths         = ["/api/consumers/consume", "/api/sensors", "/api/exports"]
      ingress       = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
      public        = true
      env           = { ELASTICSEARCH_URL = var.elasticsearch_url, IOT_TRUSTED_PROXY_HOPS = "2" }
      secrets       = { IOT_JWKS = "iot-jwks", ELASTICSEARCH_API_KEY = "iot-elasticsearch-reader-key" }
      firestore     = "roles/datastore.viewer"
      credentials   = false
      control       = null
      publishes     = []
      probe         = local.tcp_probe
    }
    "web" = {
      concurrency   = 32
      timeout       = 60
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 20
      paths         = ["/"]
      ingress       = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
      public        = true
      env           = { IOT_TRUSTED_PROXY_HOPS = "2", IOT_CONSOLE_GATEWAY_URL = local.gateway_http_url }
      secrets       = {}
      firestore     = null
      credentials   = false
      control       = null
      publishes     = []
      probe         = local.tcp_probe
    }
    "gateway-http" = {
      concurrency   = 64
      timeout       = 60
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 20
      paths         = []
      ingress       = "INGRESS_TRAFFIC_ALL"
      public        = true
      env           = { IOT_CONTROL_DATABASE = local.control_database }
      secrets       = { IOT_JWKS = "iot-jwks" }
      firestore     = "roles/datastore.viewer"
      credentials   = false
      control       = "roles/datastore.user"
      publishes     = ["topic"]
      probe         = local.tcp_probe
    }
    "gateway-ws" = {
      concurrency   = 250
      timeout       = 3600
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 20
      paths         = []
      ingress       = "INGRESS_TRAFFIC_ALL"
      public        = true
      env           = { IOT_CONTROL_DATABASE = local.control_database }
      secrets       = { IOT_JWKS = "iot-jwks" }
      firestore     = "roles/datastore.viewer"
      credentials   = false
      control       = "roles/datastore.user"
      publishes     = ["topic"]
      probe         = local.tcp_probe
    }
    "gateway-mqtt" = {
      concurrency   = 1000
      timeout       = 3600
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 20
      paths         = []
      ingress       = "INGRESS_TRAFFIC_ALL"
      public        = true
      # Cloud Run has no raw TCP: MQTT over WebSocket on $PORT only. Its front end is every WebSocket's peer, so
      # the client address (bound per address before CONNECT) is the last X-Forwarded-For entry.
      env = {
        IOT_MQTT_TCP_PORT      = "0"
        IOT_TRUSTED_PROXY_HOPS = "1"
        IOT_CONTROL_DATABASE   = local.control_database
      }
      secrets     = { IOT_JWKS = "iot-jwks" }
      firestore   = "roles/datastore.viewer"
      credentials = false
      control     = "roles/datastore.user"
      publishes   = ["topic"]
      probe       = local.tcp_probe
    }
    "pipeline" = {
      concurrency   = 16
      timeout       = 300 # the push subscription's ack deadline (infra/pubsub_topology.json)
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 10
      paths         = []
      ingress       = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      public        = false
      env = {
        ELASTICSEARCH_URL        = var.elasticsearch_url
        IOT_PUSH_AUDIENCE        = local.pipeline_url
        IOT_PUSH_SERVICE_ACCOUNT = google_service_account.pubsub_push.email
      }
      secrets     = { ELASTICSEARCH_API_KEY = "iot-elasticsearch-writer-key" }
      firestore   = "roles/datastore.user"
      credentials = false
      control     = null
      publishes   = []
      probe       = local.healthz_probe
    }
    # Evaluates alert rules: pushes of telemetry-rules and Cloud Scheduler's ticks, both with the push account's
    # OIDC token (rules.tf). It publishes alerts on their own topic (rules.tf), not telemetry.
    "rules" = {
      concurrency   = 16
      timeout       = 300 # the push subscription's ack deadline (infra/pubsub_topology.json)
      cpu           = "1"
      memory        = "512Mi"
      max_instances = 10
      paths         = []
      ingress       = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      public        = false
      env = {
        IOT_PUSH_AUDIENCE        = local.rules_url
        IOT_PUSH_SERVICE_ACCOUNT = google_service_account.pubsub_push.email
      }
      secrets     = {}
      firestore   = "roles/datastore.user"
      credentials = false
      control     = null
      publishes   = ["alerts_topic"]
      probe       = local.tcp_probe
    }
  }
}

resource "google_cloud_run_v2_service" "service" {
  for_each = local.services

  name                = "${local.name_prefix}${each.key}"
  location            = var.region
  ingress             = each.value.ingress
  deletion_protection = var.deletion_protection
  # Public services skip Cloud Run's invoker check instead of granting run.invoker to allUsers, which the
  # domain-restricted-sharing organisation policy refuses; callers still need the platform's own tokens.
  invoker_iam_disabled = each.value.public

  template {
    service_account                  = google_service_account.service[each.key].email
    max_instance_request_concurrency = each.value.concurrency
    timeout                          = "${each.value.timeout}s"

    scaling {
      min_instance_count = 0
      max_instance_count = each.value.max_instances
    }

    containers {
      image = local.image

      ports {
        # HTTP/1.1 end to end (gunicorn and the asyncio gateway do not speak h2c); WebSocket upgrades
        # need HTTP/1.1 anyway. Clients still get HTTP/2 from Cloud Run's front end.
        name           = "http1"
        container_port = local.container_port
      }

      resources {
        limits = {
          cpu    = each.value.cpu
          memory = each.value.memory
        }
        # CPU only while requests (and open WebSockets) are in flight: nothing runs in the background.
        cpu_idle = true
        # Twice the CPU while an instance starts: imports dominate a cold start.
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = merge(local.common_env, { IOT_SERVICE = each.key }, each.value.env)
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = each.value.secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.secret[env.value].secret_id
              version = local.secret_versions[env.value]
            }
          }
        }
      }

      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = each.value.probe.period_seconds
        timeout_seconds       = each.value.probe.timeout_seconds
        failure_threshold     = each.value.probe.failure_threshold

        dynamic "http_get" {
          for_each = each.value.probe.path == null ? [] : [each.value.probe.path]
          content {
            path = http_get.value
            port = local.container_port
          }
        }

        dynamic "tcp_socket" {
          for_each = each.value.probe.path == null ? [local.container_port] : []
          content {
            port = tcp_socket.value
          }
        }
      }
    }
  }

  lifecycle {
    # Cloud Build deploys each commit's image with `gcloud run deploy` and moves the traffic (a candidate tag,
    # then the latest revision); terraform keeps everything else.
    ignore_changes = [template[0].containers[0].image, client, client_version, traffic]
  }

  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_iam_member.accessor,
  ]
}

# Only Pub/Sub, with the push service account's OIDC token, may invoke the pipeline.
resource "google_cloud_run_v2_service_iam_member" "pipeline_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.service["pipeline"].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pubsub_push.email}"
}
