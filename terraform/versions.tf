# Terraform and provider versions, pinned so a fresh `terraform init` gets what this was written against.

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  # State lives in the versioned bucket terraform/bootstrap creates, one object per environment. Bucket and prefix are
  # given at init (README.md, "Terraform state"), so one configuration serves every environment:
  #   terraform init -backend-config="bucket=PROJECT-tfstate" -backend-config="prefix=iot/ENVIRONMENT"
  backend "gcs" {}

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

# Budgets belong to the billing account, not the project: with user credentials their API needs a quota project, the
# one deployed to. Only google_billing_budget (monitoring.tf) uses this.
provider "google" {
  alias                 = "billing"
  project               = var.project_id
  region                = var.region
  billing_project       = var.project_id
  user_project_override = true
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project_id
}
