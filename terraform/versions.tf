# Terraform and provider versions, pinned so a fresh `terraform init` gets what this was written against.

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.31"
    }
    # Only for google_project_service_identity (iam.tf), which the GA provider does not have.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 7.31"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project_id
}
