"""web: the browser console."""

from __future__ import annotations

from flask import Flask

from infra.clients import Clients
from infra.config import Settings
from infra.web import create_flask_app
from run.web.openapi import bp as openapi_bp


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the web app (it also serves ``/api/openapi.json``)."""
    app = create_flask_app("web", settings, clients)
    app.register_blueprint(openapi_bp)
    return app
