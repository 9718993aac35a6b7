"""pipeline: the Pub/Sub push target that indexes telemetry into Elasticsearch (``POST /pubsub/push``).

Pub/Sub acknowledges a push on 102/200/201/202/204 and redelivers on anything else, so the route answers
204 once the message is stored or recorded as rejected, and 503 when it should come again; never 400, which
would only loop a poison message until it is dead-lettered.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, request

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.adapters.google_oidc import PushVerifier
from infra.adapters.firestore_rejections import record_rejections
from infra.usecases.indexing import PushIndexer
from infra.adapters.elasticsearch.writes import TemplateInstaller
from infra.web.app import create_flask_app

bp = Blueprint("pipeline", __name__)

MAX_PUSH_BYTES = 16 * 1024 * 1024


@bp.post("/pubsub/push")
def push():
    """Index the pushed message; 204 when stored (or recorded as rejected), 503 to have Pub/Sub redeliver."""
    verifier: PushVerifier | None = current_app.extensions["iot.push_verifier"]
    if verifier is not None:
        verifier.verify(request.headers)
    current_app.extensions["iot.push_indexer"].handle(request.get_data(cache=False))
    return "", 204


def create_app(settings: Settings | None = None, clients: Clients | None = None,
               verifier: PushVerifier | None = None) -> Flask:
    """Build the pipeline app; the push verifier defaults to the one the settings ask for (none locally)."""
    settings = settings or Settings.from_env()
    clients = clients or Clients(settings)
    installer = TemplateInstaller(lambda: clients.elasticsearch, settings.elasticsearch_replicas)
    # Healthy once the index template is in place: the first health check (Cloud Run's startup probe, the
    # local stack's wait) installs it, so no push can create a monthly index without its mapping.
    app = create_flask_app("pipeline", settings, clients, health=installer.ensure)
    app.extensions["iot.push_verifier"] = verifier or PushVerifier.from_settings(settings)
    app.extensions["iot.push_indexer"] = PushIndexer(
        lambda: clients.elasticsearch, lambda rejections: record_rejections(clients.firestore, rejections),
        installer)
    # Pub/Sub messages hold at most 10 MB, 13.4 MB once base64-encoded in the envelope; refuse larger bodies unread.
    app.config["MAX_CONTENT_LENGTH"] = MAX_PUSH_BYTES
    app.register_blueprint(bp)
    return app
