"""api-data: reading telemetry — the time-range data API, the read-only Elasticsearch proxy for consumers, and a
device's export."""

from __future__ import annotations

from flask import Flask

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.web.app import create_flask_app
from infra.wiring import wiring_of
from run.api_data.export_views import bp as exports_bp
from run.api_data.views import bp, proxy


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the api-data app; it verifies tokens only (public keys suffice)."""
    app = create_flask_app("api-data", settings, clients)
    wiring_of(app).load_configuration(signing=False)
    app.register_blueprint(bp)
    app.register_blueprint(proxy)
    app.register_blueprint(exports_bp)
    return app
