"""rules: evaluates alert rules on the telemetry stream (``POST /pubsub/push``, the push target of
``telemetry-rules``) and on the clock (``POST /tick``, called by Cloud Scheduler, and by ``make dev``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from infra.config import Settings
from infra.web.app import create_flask_app, limit_bodies
from infra.wiring import wiring_of
from infra.wiring.clients import Clients
from run.rules.views import bp

if TYPE_CHECKING:
    from infra.adapters.google_oidc import PushVerifier

MAX_PUSH_BYTES = 16 * 1024 * 1024  # as the pipeline: a Pub/Sub message, base64-encoded in its envelope


def create_app(settings: Settings | None = None, clients: Clients | None = None,
               verifier: PushVerifier | None = None) -> Flask:
    """Build the rules app; pushes and ticks are verified as the settings ask (no check locally)."""
    app = create_flask_app("rules", settings, clients)
    if verifier is not None:
        wiring_of(app).push_verifier = verifier
    limit_bodies(app, MAX_PUSH_BYTES)
    app.register_blueprint(bp)
    return app
