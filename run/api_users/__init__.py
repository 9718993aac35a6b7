"""api-users: sign-in, the caller's profile, user administration and the JWKS of the signing keys."""

from __future__ import annotations

from flask import Flask

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.usecases.accounts import ensure_admin
from infra.web.app import before_first_request, create_flask_app
from infra.wiring import wiring_of
from run.api_users.views import bp


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the api-users app; a missing signing key or admin password stops start-up here.

    The admin account is bootstrapped before the first request a process serves (once per deployment: the step is
    recorded, so a deleted admin stays deleted), not while building the app, which must not connect anywhere.
    """
    app = create_flask_app("api-users", settings, clients)
    wiring = wiring_of(app)
    wiring.load_configuration(admin=True)
    before_first_request(app, lambda: ensure_admin(wiring.repository, wiring.passwords, wiring.admin))
    app.register_blueprint(bp)
    return app
