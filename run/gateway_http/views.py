"""Routes of gateway-http: ``POST /`` with a device token, one record or an array."""

from __future__ import annotations

from flask import Blueprint, request

from infra.domain.errors import PayloadTooLargeError
from infra.web.app import require_json_type
from infra.web.auth import bearer_token
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
