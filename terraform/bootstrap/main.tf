# The bucket that holds the terraform state of the platform (../versions.tf, backend "gcs"): created once per project,
# before anything else, by this configuration with local state. Every environment of the project keeps its state
# under its own prefix in it. README.md, "Terraform state", has the steps.
#
# The local state of this configuration is disposable: should it be lost, `terraform import google_storage_bucket.state
# PROJECT-tfstate` takes the bucket back.

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.31"
    }
  }
}

variable "project_id" {
  type        = string
  description = "Google Cloud project id the platform is deployed into (the state bucket is created there)."
}

variable "location" {
  type        = string
  description = "Location of the state bucket: a region (e.g. europe-west1) or a multi-region (EU, US)."
  default     = "europe-west1"
}

provider "google" {
  project = var.project_id
}

resource "google_project_service" "storage" {
  service            = "storage.googleapis.com"
  disable_on_destroy = false
}

resource "google_storage_bucket" "state" {
  #checkov:skip=CKV_GCP_62: access logs of the state bucket would need a second bucket; Cloud Audit Logs record who changed it
  name                        = "${var.project_id}-tfstate"
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Every write of the state is a new object version: a broken apply or a lost state file is undone by restoring one.
  versioning {
    enabled = true
  }

  # Old versions are kept for 90 days (the newest 10 whatever their age), so the bucket does not grow forever.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 90
      num_newer_versions         = 10
    }
    action {
      type = "Delete"
    }
  }

  lifecycle {
    prevent_destroy = true
  }

  depends_on = [google_project_service.storage]
}

output "bucket" {
  description = "The state bucket: pass it to `terraform init -backend-config=\"bucket=...\"` in ../."
  value       = google_storage_bucket.state.name
}
