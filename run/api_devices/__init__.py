"""api-devices: devices (with their status), their sensors and sensor tree, device keys, device control (the twin
and commands), the deletion tasks of deleted things' readings, alert rules and alerts."""

from __future__ import annotations

from flask import Flask

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.web.app import create_flask_app
from infra.wiring import wiring_of
from run.api_devices.control_views import bp as control_bp
from run.api_devices.deletion_views import bp as deletions_bp
from run.api_devices.rule_views import bp as rules_bp
from run.api_devices.views import bp


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the api-devices app; a missing signing key stops start-up here."""
    app = create_flask_app("api-devices", settings, clients)
    wiring_of(app).load_configuration()
    app.register_blueprint(bp)
    app.register_blueprint(control_bp)
    app.register_blueprint(deletions_bp)
    app.register_blueprint(rules_bp)
    return app
