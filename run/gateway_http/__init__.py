"""gateway-http: device ingestion over HTTPS — ``POST /`` with a device token, one record or an array — and the
device's side of device control: ``/twin/desired``, ``/twin/reported``, ``/commands`` (``control_views``)."""

from __future__ import annotations

from flask import Flask

from infra.config import Settings
from infra.usecases.device_control import DeviceControl
from infra.usecases.ingest import Ingestor
from infra.web.app import create_flask_app, limit_bodies
from infra.wiring import wiring_of
from infra.wiring.clients import Clients
from infra.wiring.gateway import build_device_control, build_ingestor
from run.gateway_http.control_views import bp as control_bp
from run.gateway_http.views import bp


def create_app(settings: Settings | None = None, clients: Clients | None = None,
               ingestor: Ingestor | None = None, device_control: DeviceControl | None = None) -> Flask:
    """Build the gateway-http app; the ingestor and device control default to ones built from settings."""
    app = create_flask_app("gateway-http", settings, clients)
    wiring = wiring_of(app)
    wiring.ingestor = ingestor or build_ingestor(wiring.settings, wiring.clients, "http")
    wiring.device_control = device_control or build_device_control(wiring.clients, wiring.ingestor.presence)
    limit_bodies(app, wiring.ingestor.limits.max_body_bytes)  # 413 for longer bodies, chunked ones too
    app.register_blueprint(bp)
    app.register_blueprint(control_bp)
    return app
