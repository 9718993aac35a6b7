"""gateway-http: device ingestion over HTTPS (POST /)."""

from __future__ import annotations

from flask import Flask

from infra.clients import Clients
from infra.config import Settings
from infra.web import create_flask_app


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the gateway-http app."""
    return create_flask_app("gateway-http", settings, clients)
