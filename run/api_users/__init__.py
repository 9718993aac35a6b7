"""api-users: sign-in, the caller's profile, user administration and the JWKS of the signing keys."""

from __future__ import annotations

from flask import Flask

from infra.clients import Clients
from infra.config import Settings
from infra.web import create_flask_app


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the api-users app."""
    return create_flask_app("api-users", settings, clients)
