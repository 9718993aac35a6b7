# Optional: the platform's Elasticsearch as an Elastic Cloud deployment on Google Cloud, in the platform's region,
# with the two API keys the services use (README.md, "Elasticsearch on Elastic Cloud"). A configuration of its own,
# off unless applied: the platform's configuration (..) takes any Elasticsearch 8 cluster by URL, and never needs the
# ec and elasticstack providers.
#
# Its state holds the cluster's elastic password and both API keys: it lives in the same private, versioned state
# bucket as the platform's, under a prefix of its own. The keys reach Secret Manager out of band (outputs below).

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  # terraform init -backend-config="bucket=PROJECT-tfstate" -backend-config="prefix=iot/ENVIRONMENT/elasticsearch"
  backend "gcs" {}

  required_providers {
    ec = {
      source  = "elastic/ec"
      version = "~> 0.12"
    }
    elasticstack = {
      source  = "elastic/elasticstack"
      version = "~> 0.11"
    }
  }
}

variable "region" {
  type        = string
  description = "Google Cloud region of the platform (e.g. europe-west1); the deployment runs in Elastic Cloud's gcp-REGION, so readings do not cross regions."
  default     = "europe-west1"
}

variable "environment" {
  type        = string
  description = "The platform environment's name (as in ../variables.tf), part of the deployment's name; empty for the only one."
  default     = ""
}

variable "deployment_template_id" {
  type        = string
  description = "Elastic Cloud deployment template (hardware profile) on Google Cloud: time series are mostly written, seldom read, so storage-optimized by default."
  default     = "gcp-storage-optimized"
}

variable "hot_size" {
  type        = string
  description = "Memory per zone of the hot tier (Elastic Cloud sizes, e.g. 2g, 4g, 8g); autoscaling grows storage from there."
  default     = "4g"
}

variable "zone_count" {
  type        = number
  description = "Availability zones of the hot tier: 2 survives a zone outage; the index template's replicas (IOT_ELASTICSEARCH_REPLICAS, default 1) need at least 2."
  default     = 2

  validation {
    condition     = var.zone_count >= 1 && var.zone_count <= 3
    error_message = "zone_count must be 1, 2 or 3."
  }
}

locals {
  name_prefix = var.environment == "" ? "" : "${var.environment}-"
  # The privileges of each key, one file shared with the README's table (tests/deploy/test_elastic_cloud.py).
  privileges = jsondecode(file("${path.module}/privileges.json"))
}

# The newest 8.x stack Elastic Cloud offers in the region: the platform speaks Elasticsearch 8.
data "ec_stack" "latest" {
  version_regex = "8.?"
  region        = "gcp-${var.region}"
  lock          = true # an apply never upgrades the cluster by itself; remove the lock to move forward
}

resource "ec_deployment" "telemetry" {
  name                   = "${local.name_prefix}iot-telemetry"
  region                 = "gcp-${var.region}"
  version                = data.ec_stack.latest.version
  deployment_template_id = var.deployment_template_id

  elasticsearch = {
    hot = {
      size        = var.hot_size
      zone_count  = var.zone_count
      autoscaling = {}
    }
  }

  tags = { app = "iot-platform" }
}

provider "elasticstack" {
  elasticsearch {
    endpoints = [ec_deployment.telemetry.elasticsearch.https_endpoint]
    username  = ec_deployment.telemetry.elasticsearch_username
    password  = ec_deployment.telemetry.elasticsearch_password
  }
}

# The pipeline's key: the index template, and writing the monthly indices it creates.
resource "elasticstack_elasticsearch_security_api_key" "writer" {
  name             = "${local.name_prefix}iot-pipeline"
  role_descriptors = jsonencode(local.privileges.writer)
}

# api-data's key, on the internet-facing side: reads only.
resource "elasticstack_elasticsearch_security_api_key" "reader" {
  name             = "${local.name_prefix}iot-api-data"
  role_descriptors = jsonencode(local.privileges.reader)
}

output "elasticsearch_url" {
  description = "The cluster's HTTPS endpoint: the platform's elasticsearch_url (../terraform.tfvars)."
  value       = ec_deployment.telemetry.elasticsearch.https_endpoint
}

output "writer_key" {
  description = "Encoded API key of the pipeline, for the secret iot-elasticsearch-writer-key."
  value       = elasticstack_elasticsearch_security_api_key.writer.encoded
  sensitive   = true
}

output "reader_key" {
  description = "Encoded API key of api-data, for the secret iot-elasticsearch-reader-key."
  value       = elasticstack_elasticsearch_security_api_key.reader.encoded
  sensitive   = true
}
