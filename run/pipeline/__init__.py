"""pipeline: the Pub/Sub push target that indexes telemetry into Elasticsearch (``POST /pubsub/push``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from infra.config import Settings
from infra.web.app import create_flask_app, limit_bodies
from infra.wiring import wiring_of
from infra.wiring.clients import Clients
from run.pipeline.views import bp

if TYPE_CHECKING:  # google-auth (and cryptography under it) only when the first push is verified
    from infra.adapters.google_oidc import PushVerifier

MAX_PUSH_BYTES = 16 * 1024 * 1024


def create_app(settings: Settings | None = None, clients: Clients | None = None,
               verifier: PushVerifier | None = None) -> Flask:
    """Build the pipeline app; the push verifier defaults to the one the settings ask for (none locally)."""
    # Healthy once the index template is in place: the first health check (Cloud Run's startup probe, the
    # local stack's wait) installs it, so no push can create a monthly index without its mapping.
    app = create_flask_app("pipeline", settings, clients,
                           health=lambda: wiring_of(app).template_installer.ensure())
    wiring = wiring_of(app)
    if verifier is not None:
        wiring.push_verifier = verifier
    # Pub/Sub messages hold at most 10 MB, 13.4 MB once base64-encoded in the envelope; refuse larger bodies unread.
    limit_bodies(app, MAX_PUSH_BYTES)
    app.register_blueprint(bp)
    return app
