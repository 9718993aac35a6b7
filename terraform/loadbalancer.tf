# The external HTTPS load balancer: one address and certificate, a serverless NEG and backend service per
# routed service, the URL map of DESIGN.md §2 built from each service's `paths`, and HTTP -> HTTPS.
#
# Host var.domain serves the console and the API groups; each host of var.gateway_domains goes wholly to
# its gateway. Gateways also keep their run.app URLs (ingress all), so devices need no custom domain.

locals {
  routed = {
    for name, service in local.services : name => service
    if length(service.paths) > 0 || contains(keys(var.gateway_domains), name)
  }

  # The service whose path is "/" answers everything no other rule takes.
  default_backend = one([for name, service in local.services : name if contains(service.paths, "/")])

  # Each prefix matches itself and everything under it; the URL map picks the longest matching path, so
  # /api/consumers/consume/... goes to api-data and the rest of /api/consumers/... to api-consumers.
  path_rules = {
    for name, service in local.services : name => flatten([for prefix in service.paths : [prefix, "${prefix}/*"]])
    if length(service.paths) > 0 && !contains(service.paths, "/")
  }

  certificate_domains = concat([var.domain], [for name in sort(keys(var.gateway_domains)) : var.gateway_domains[name]])
}

resource "google_compute_global_address" "lb" {
  name = "${local.name_prefix}iot-lb"

  depends_on = [google_project_service.enabled]
}

# One Google-managed certificate per host name, named after it. A managed certificate's domains cannot change in
# place, and a replaced one serves nothing until it is ACTIVE (up to an hour, once DNS points here): with one
# certificate for every host, adding or changing a gateway host would swap the console's working certificate for
# one still provisioning. Per host, a change creates only the new host's certificate, attached beside the others
# (which keep serving), and removes only the certificate of a host that is gone; create_before_destroy covers a
# rename. A target HTTPS proxy holds up to 15 certificates; the first one answers clients without SNI.
resource "google_compute_managed_ssl_certificate" "lb" {
  for_each = toset(local.certificate_domains)

  name = "${local.name_prefix}iot-lb-${substr(sha256(each.key), 0, 12)}"

  managed {
    domains = [each.key]
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.enabled]
}

resource "google_compute_region_network_endpoint_group" "service" {
  for_each = local.routed

  name                  = "${local.name_prefix}iot-${each.key}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.service[each.key].name
  }
}

resource "google_compute_backend_service" "service" {
  for_each = local.routed

  name                  = "${local.name_prefix}iot-${each.key}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"

  backend {
    group = google_compute_region_network_endpoint_group.service[each.key].id
  }

  # Cloud Run already logs every request; logging them again here would double the bill.
  log_config {
    enable = false
  }
}

resource "google_compute_url_map" "https" {
  name            = "${local.name_prefix}iot-https"
  default_service = google_compute_backend_service.service[local.default_backend].id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "platform"
  }

  path_matcher {
    name            = "platform"
    default_service = google_compute_backend_service.service[local.default_backend].id

    dynamic "path_rule" {
      for_each = local.path_rules
      content {
        paths   = path_rule.value
        service = google_compute_backend_service.service[path_rule.key].id
      }
    }
  }

  dynamic "host_rule" {
    for_each = var.gateway_domains
    content {
      hosts        = [host_rule.value]
      path_matcher = host_rule.key
    }
  }

  dynamic "path_matcher" {
    for_each = var.gateway_domains
    content {
      name            = path_matcher.key
      default_service = google_compute_backend_service.service[path_matcher.key].id
    }
  }
}

resource "google_compute_ssl_policy" "modern" {
  name            = "${local.name_prefix}iot-modern-tls"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"

  depends_on = [google_project_service.enabled]
}

resource "google_compute_target_https_proxy" "https" {
  name             = "${local.name_prefix}iot-https"
  url_map          = google_compute_url_map.https.id
  ssl_certificates = [for domain in local.certificate_domains : google_compute_managed_ssl_certificate.lb[domain].id]
  ssl_policy       = google_compute_ssl_policy.modern.id
}

resource "google_compute_global_forwarding_rule" "https" {
  name                  = "${local.name_prefix}iot-https"
  ip_protocol           = "TCP"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.lb.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.https.id
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "http_redirect" {
  name = "${local.name_prefix}iot-http-redirect"

  default_url_redirect {
    https_redirect         = true
    strip_query            = false
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
  }
}

resource "google_compute_target_http_proxy" "http_redirect" {
  name    = "${local.name_prefix}iot-http-redirect"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http_redirect" {
  name                  = "${local.name_prefix}iot-http-redirect"
  ip_protocol           = "TCP"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.lb.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.http_redirect.id
}
