"""web: the browser console."""

from __future__ import annotations

from flask import Flask

from infra.clients import Clients
from infra.config import Settings
from infra.web import create_flask_app


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the web app."""
    return create_flask_app("web", settings, clients)
