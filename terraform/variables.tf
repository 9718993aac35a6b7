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

variable "environment" {
  type        = string
  description = "Name of this environment when a project holds more than one (e.g. staging): prefixed, with a dash, to the name of every resource it creates that must be unique in the project. Empty for the project's only environment (the names without a prefix). Each environment keeps its own state (prefix of the backend, README.md)."
  default     = ""

  validation {
    # Short enough that every prefixed name stays within its limit (a load balancer certificate's 63 characters, a
    # service account id's 30).
    condition     = can(regex("^([a-z][a-z0-9]{0,7})?$", var.environment))
    error_message = "environment must be empty or 1 to 8 lowercase letters and digits, starting with a letter."
  }
}

locals {
  # Every name that must be unique in the project starts with this: "" or "staging-".
  name_prefix = var.environment == "" ? "" : "${var.environment}-"
}

variable "alert_email" {
  type        = string
  description = "E-mail address notified of every alert (dead letters, 5xx per service, slow pushes, the API's uptime check) and of the budget (monitoring.tf)."

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an e-mail address."
  }
}

variable "billing_account" {
  type        = string
  description = "ID of the billing account the project is billed to (XXXXXX-XXXXXX-XXXXXX), for the monthly budget and its alerts; null skips the budget (creating one needs the Billing Account Costs Manager role on that account)."
  default     = null

  validation {
    condition     = var.billing_account == null || can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.billing_account))
    error_message = "billing_account must look like 012345-6789AB-CDEF01."
  }
}

variable "monthly_budget" {
  type        = number
  description = "Monthly budget of the project in the billing account's currency; notifications at 50, 90 and 100 % of actual spend and when the month's forecast exceeds it."
  default     = 100

  validation {
    condition     = var.monthly_budget > 0 && floor(var.monthly_budget) == var.monthly_budget
    error_message = "monthly_budget must be a whole, positive amount."
  }
}

variable "extension_push_endpoints" {
  type        = map(string)
  description = "Operators' own processing of the telemetry stream: name => HTTPS URL of their service; each gets a push subscription telemetry-ext-NAME on telemetry (rules.tf, docs/rules.md)."
  default     = {}

  validation {
    condition     = alltrue([for name, url in var.extension_push_endpoints : can(regex("^[a-z][a-z0-9-]{0,30}$", name)) && startswith(url, "https://")])
    error_message = "extension_push_endpoints: names of a-z, 0-9 and '-' (starting with a letter), HTTPS URLs."
  }
}
