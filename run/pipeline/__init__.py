"""pipeline: the Pub/Sub push target that indexes telemetry into Elasticsearch (``POST /pubsub/push``).

Pub/Sub acknowledges a push on 102/200/201/202/204 and redelivers on anything else, so the route answers
204 once the message is stored or recorded as rejected, and 503 when it should come again; never 400, which
would only loop a poison message until it is dead-lettered.
"""

from __future__ import annotations

from flask import Blueprint, Flask, request

from infra.config import Settings
from infra.adapters.google_oidc import PushVerifier
from infra.web.app import create_flask_app
from infra.wiring import wiring_of
from infra.wiring.clients import Clients

bp = Blueprint("pipeline", __name__)

MAX_PUSH_BYTES = 16 * 1024 * 1024


@bp.post("/pubsub/push")
def push():
    """Index the pushed message; 204 when stored (or recorded as rejected), 503 to have Pub/Sub redeliver."""
    wiring = wiring_of()
    if wiring.push_verifier is not None:
        wiring.push_verifier.verify(request.headers)
    wiring.push_indexer.handle(request.get_data(cache=False))
    return "", 204


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
    app.config["MAX_CONTENT_LENGTH"] = MAX_PUSH_BYTES
    app.register_blueprint(bp)
    return app
