"""web: the browser console (``/`` and ``/console/*``) and the OpenAPI document (``/api/openapi.json``)."""

from __future__ import annotations

from flask import Flask

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.web.app import create_flask_app
from run.web.views import bp


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the web app: the console and ``/api/openapi.json``."""
    app = create_flask_app("web", settings, clients)
    app.register_blueprint(bp)
    return app
