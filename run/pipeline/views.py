"""Routes of the pipeline: ``POST /pubsub/push``, the push target of ``telemetry-indexer``.

Pub/Sub acknowledges a push on 102/200/201/202/204 and redelivers on anything else, so the route answers
204 once the message is stored or recorded as rejected, and 503 when it should come again; never 400, which
would only loop a poison message until it is dead-lettered.
"""

from __future__ import annotations

from flask import Blueprint, request

from infra.web.app import request_bytes
from infra.web.auth import bearer_token
from infra.wiring import wiring_of

bp = Blueprint("pipeline", __name__)


@bp.post("/pubsub/push")
def push():
    """Index the pushed message; 204 when stored (or recorded as rejected), 503 to have Pub/Sub redeliver."""
    wiring = wiring_of()
    if wiring.push_verifier is not None:
        wiring.push_verifier.verify(bearer_token(request.headers))
    wiring.push_indexer.handle(request_bytes())
    return "", 204
