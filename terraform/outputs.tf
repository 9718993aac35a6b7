# Where things ended up.

output "lb_ip_address" {
  description = "Address of the HTTPS load balancer: point the DNS A records of domain and gateway_domains here."
  value       = google_compute_global_address.lb.address
}

output "console_url" {
  description = "The console and the API (through the load balancer)."
  value       = "https://${var.domain}/"
}

output "service_urls" {
  description = "run.app URL of every Cloud Run service (the API groups answer only through the load balancer)."
  value       = { for name, service in google_cloud_run_v2_service.service : name => service.uri }
}

output "gateway_urls" {
  description = "Where devices send readings: HTTPS POST, WebSocket, and MQTT over WebSocket (path /mqtt)."
  value = {
    "gateway-http" = try("https://${var.gateway_domains["gateway-http"]}/", google_cloud_run_v2_service.service["gateway-http"].uri)
    "gateway-ws"   = replace(try("https://${var.gateway_domains["gateway-ws"]}/", google_cloud_run_v2_service.service["gateway-ws"].uri), "https://", "wss://")
    "gateway-mqtt" = "${replace(try("https://${var.gateway_domains["gateway-mqtt"]}", google_cloud_run_v2_service.service["gateway-mqtt"].uri), "https://", "wss://")}/mqtt"
  }
}

output "pipeline_push_endpoint" {
  description = "Endpoint the telemetry-indexer subscription pushes to."
  value       = google_pubsub_subscription.indexer.push_config[0].push_endpoint
}

output "image_repository" {
  description = "Artifact Registry path of the platform image (tag it with the commit)."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}/${var.image_name}"
}

output "deployer_service_account" {
  description = "Service account to run cloudbuild.yaml as (gcloud builds submit --service-account, or the trigger's)."
  value       = google_service_account.deployer.id
}
