"""api-data: reading telemetry: the time-range data API and the read-only Elasticsearch proxy."""

from __future__ import annotations

from flask import Flask

from infra.clients import Clients
from infra.config import Settings
from infra.web import create_flask_app


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    """Build the api-data app."""
    return create_flask_app("api-data", settings, clients)
