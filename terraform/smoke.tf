# The smoke test of a release (cloudbuild.yaml): a Cloud Run job that runs `python -m infra.ops.smoke` against the
# revisions each build deploys with no traffic and the tag `candidate`, before the build moves traffic to them.
#
# It runs in Cloud Run, not in Cloud Build, because the API groups accept only internal and load balancer traffic
# (ingress): a tagged run.app URL is internal only when the request leaves through a VPC network of the project,
# so the job sends everything through Direct VPC egress into a subnet with Private Google Access.

locals {
  # The traffic tag of the revisions a build deploys and smoke-tests; their URLs are TAG---SERVICE-NUMBER.REGION.run.app.
  candidate_tag      = "candidate"
  smoke_url_template = "https://{tag}---${local.name_prefix}{service}-${data.google_project.this.number}.${var.region}.run.app"
}

resource "google_compute_network" "smoke" {
  name                    = "${local.name_prefix}iot-smoke"
  auto_create_subnetworks = false

  depends_on = [google_project_service.enabled]
}

# The job only calls out; nothing may connect into the network (stated, not left to the implied rule).
resource "google_compute_firewall" "smoke_no_ingress" {
  name          = "${local.name_prefix}iot-smoke-no-ingress"
  network       = google_compute_network.smoke.id
  direction     = "INGRESS"
  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }
}

resource "google_compute_subnetwork" "smoke" {
  #checkov:skip=CKV_GCP_26: flow logs of a subnet that carries one smoke test per build to run.app would only add cost
  #checkov:skip=CKV_GCP_76: the job reaches run.app over IPv4; the subnet has no IPv6 range to give Private Google Access
  name                     = "${local.name_prefix}iot-smoke"
  region                   = var.region
  network                  = google_compute_network.smoke.id
  ip_cidr_range            = "10.8.0.0/26" # Direct VPC egress needs at least a /26
  private_ip_google_access = true
}

resource "google_service_account" "smoke" {
  account_id   = "${local.name_prefix}iot-smoke"
  display_name = "IoT platform: release smoke test"
  description  = "Runs the smoke test of candidate revisions (signs in as the admin, sends one reading)."

  depends_on = [google_project_service.enabled]
}

# The smoke test signs in as the bootstrapped admin.
resource "google_secret_manager_secret_iam_member" "smoke_admin_password" {
  secret_id = google_secret_manager_secret.secret["iot-admin-password"].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.smoke.email}"
}

resource "google_cloud_run_v2_job" "smoke" {
  name                = "${local.name_prefix}iot-smoke"
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count = 1

    template {
      service_account = google_service_account.smoke.email
      max_retries     = 0 # a failed smoke test fails the build; it is not retried into passing
      timeout         = "300s"

      vpc_access {
        egress = "ALL_TRAFFIC"
        network_interfaces {
          network    = google_compute_network.smoke.id
          subnetwork = google_compute_subnetwork.smoke.id
        }
      }

      containers {
        image   = local.image
        command = ["python"]
        args    = ["-m", "infra.ops.smoke", "--url-template", local.smoke_url_template, "--tag", local.candidate_tag]

        env {
          name = "IOT_ADMIN_PASSWORD"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.secret["iot-admin-password"].secret_id
              version = "latest"
            }
          }
        }

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }
      }
    }
  }

  lifecycle {
    # Each build runs the smoke test of its own commit (`gcloud run jobs update --image`, cloudbuild.yaml).
    ignore_changes = [template[0].template[0].containers[0].image, client, client_version]
  }

  depends_on = [google_secret_manager_secret_iam_member.smoke_admin_password]
}
