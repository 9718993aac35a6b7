# Inputs of the deployment; terraform.tfvars.example shows a filled-in set.

variable "project_id" {
  type        = string
  description = "Google Cloud project id to deploy into (it must exist, with billing enabled)."
}

variable "region" {
  type        = string
  description = "Region of the Cloud Run services, the serverless NEGs and the Artifact Registry repository."
  default     = "europe-west1"
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore database: a region (e.g. europe-west1) or a multi-region (eur3, nam5). Cannot change later."
  default     = "europe-west1"
}

variable "domain" {
  type        = string
  description = "Host name of the console and the API (e.g. iot.example.com); its DNS A record must point at the load balancer address (output lb_ip_address) for the managed certificate to be issued."
}

variable "gateway_domains" {
  type        = map(string)
  description = "Optional host names for the gateways on the same load balancer, by service name (gateway-http, gateway-ws, gateway-mqtt). Gateways are always reachable on their run.app URLs; a host listed here is added to the certificate and routed to that gateway."
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.gateway_domains) : contains(["gateway-http", "gateway-ws", "gateway-mqtt"], name)])
    error_message = "The keys of gateway_domains must be gateway-http, gateway-ws or gateway-mqtt."
  }
}

variable "image_tag" {
  type        = string
  description = "Tag of the platform image in Artifact Registry to create the services with (e.g. the short commit SHA). Later deploys by Cloud Build change the image; terraform ignores that drift."
}

variable "artifact_repository" {
  type        = string
  description = "Name of the Artifact Registry Docker repository holding the platform image."
  default     = "iot"
}

variable "image_name" {
  type        = string
  description = "Name of the platform image inside the repository."
  default     = "iot-platform"
}

variable "elasticsearch_url" {
  type        = string
  description = "HTTPS endpoint of the Elasticsearch 8 cluster (e.g. an Elastic Cloud deployment) used by the pipeline and api-data. Their API keys go into the Secret Manager secrets iot-elasticsearch-writer-key (pipeline) and iot-elasticsearch-reader-key (api-data)."

  validation {
    condition     = startswith(var.elasticsearch_url, "https://")
    error_message = "elasticsearch_url must be an https:// URL: the API key travels with every request."
  }
}

variable "log_level" {
  type        = string
  description = "Minimum log severity of every service (LOG_LEVEL)."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the Cloud Run services and the Firestore database through terraform (set false to tear a test project down)."
  default     = true
}
