"""api-users: sign-in, the caller's profile, user administration and the JWKS of the signing keys."""

from __future__ import annotations

from flask import Flask

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.web.app import create_flask_app
from infra.wiring import wiring_of
from run.api_users.views import bp


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the api-users app; a missing signing key or admin password stops start-up here."""
    app = create_flask_app("api-users", settings, clients)
    wiring_of(app).load_configuration(admin=True)
    app.register_blueprint(bp)
    return app
