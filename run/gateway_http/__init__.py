"""gateway-http: device ingestion over HTTPS — ``POST /`` with a device token, one record or an array."""

from __future__ import annotations

from flask import Flask

from infra.config import Settings
from infra.usecases.ingest import Ingestor
from infra.web.app import create_flask_app, limit_bodies
from infra.wiring import wiring_of
from infra.wiring.clients import Clients
from infra.wiring.gateway import build_ingestor
from run.gateway_http.views import bp


def create_app(settings: Settings | None = None, clients: Clients | None = None,
               ingestor: Ingestor | None = None) -> Flask:
    """Build the gateway-http app; the ingestor defaults to one built from settings."""
    app = create_flask_app("gateway-http", settings, clients)
    wiring = wiring_of(app)
    wiring.ingestor = ingestor or build_ingestor(wiring.settings, wiring.clients, "http")
    limit_bodies(app, wiring.ingestor.limits.max_body_bytes)  # 413 for longer bodies, chunked ones too
    app.register_blueprint(bp)
    return app
