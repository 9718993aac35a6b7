"""Routes of the pipeline: ``POST /pubsub/push``, the push target of ``telemetry-indexer``, and the data lifecycle
ticks Cloud Scheduler calls (``make dev`` too): ``POST /ticks/retention`` and ``POST /ticks/deletions``.

Pub/Sub acknowledges a push on 102/200/201/202/204 and redelivers on anything else, so the route answers
204 once the message is stored or recorded as rejected, and 503 when it should come again; never 400, which
would only loop a poison message until it is dead-lettered.

The ticks carry the same OIDC identity as the pushes (the pipeline's one invoker account) and are idempotent: a
tick repeated, or run by two instances at once, does no harm.
"""

from __future__ import annotations

from flask import Blueprint, request

from infra.domain.model import utc_now
from infra.usecases.retention import enforce_retention
from infra.web.app import request_bytes
from infra.web.auth import bearer_token
from infra.wiring import Wiring, wiring_of

bp = Blueprint("pipeline", __name__)


@bp.post("/pubsub/push")
def push():
    """Index the pushed message; 204 when stored (or recorded as rejected), 503 to have Pub/Sub redeliver."""
    wiring = _verified()
    wiring.push_indexer.handle(request_bytes())
    return "", 204


@bp.post("/ticks/retention")
def retention_tick():
    """Drop the monthly indices past the retention period; name them."""
    wiring = _verified()
    months = wiring.settings.retention_months
    return {"dropped": enforce_retention(wiring.telemetry_indices, months, utc_now()), "retention_months": months}


@bp.post("/ticks/deletions")
def deletions_tick():
    """Advance every open deletion task one step; name those that finished and those still open."""
    return _verified().deletion_worker.tick()


def _verified() -> Wiring:
    wiring = wiring_of()
    if wiring.push_verifier is not None:
        wiring.push_verifier.verify(bearer_token(request.headers))
    return wiring
