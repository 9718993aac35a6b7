"""gateway-http: device ingestion over HTTPS — ``POST /`` with a device token, one record or an array."""

from __future__ import annotations

from flask import Blueprint, Flask, request

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.domain.errors import PayloadTooLargeError
from infra.wiring.gateway import build_ingestor
from infra.usecases.ingest import Ingestor
from infra.web.app import bearer_token, create_flask_app, require_json_type
from infra.wiring import wiring_of

bp = Blueprint("gateway_http", __name__)


@bp.post("/")
def ingest():
    """Accept readings of the authenticated device; 200 only once Pub/Sub confirmed them."""
    ingestor = wiring_of().ingestor
    identity = ingestor.authenticate(bearer_token(request.headers))
    require_json_type(lenient=True, what="readings")
    length = request.content_length
    if length is not None and length > ingestor.limits.max_body_bytes:
        raise PayloadTooLargeError(f"the body exceeds {ingestor.limits.max_body_bytes} bytes")
    return ingestor.ingest(identity, request.get_data(cache=False)).to_dict()


def create_app(settings: Settings | None = None, clients: Clients | None = None,
               ingestor: Ingestor | None = None) -> Flask:
    """Build the gateway-http app; the ingestor defaults to one built from settings."""
    app = create_flask_app("gateway-http", settings, clients)
    wiring = wiring_of(app)
    wiring.ingestor = ingestor or build_ingestor(wiring.settings, wiring.clients, "http")
    # Werkzeug refuses longer bodies before reading them (413), also when no Content-Length is sent.
    app.config["MAX_CONTENT_LENGTH"] = wiring.ingestor.limits.max_body_bytes
    app.register_blueprint(bp)
    return app
