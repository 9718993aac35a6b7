"""Routes of gateway-http: ``POST /`` with a device token, one record or an array."""

from __future__ import annotations

from flask import Blueprint, request

from infra.web.app import request_bytes, require_json_type
from infra.web.auth import bearer_token
from infra.wiring import wiring_of

bp = Blueprint("gateway_http", __name__)


@bp.post("/")
def ingest():
    """Accept readings of the authenticated device; 200 only once Pub/Sub confirmed them."""
    ingestor = wiring_of().ingestor
    identity = ingestor.authenticate(bearer_token(request.headers))
    require_json_type(lenient=True, what="readings")
    return ingestor.ingest(identity, request_bytes()).to_dict()
