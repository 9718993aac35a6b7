"""Routes of the rules service: ``POST /pubsub/push`` (telemetry to evaluate) and ``POST /tick`` (the clock).

Like the pipeline's push route, it answers 204 once the message is evaluated and its alerts are out (or it held
nothing to evaluate), and 503 when it should come again; never 400, which would loop a poison message.
"""

from __future__ import annotations

from flask import Blueprint, request

from infra.web.app import request_bytes
from infra.web.auth import bearer_token
from infra.wiring import wiring_of

bp = Blueprint("rules", __name__)


@bp.post("/pubsub/push")
def push():
    """Evaluate the rules of the pushed message's sensors; 204 when done, 503 to have Pub/Sub redeliver."""
    _verify()
    wiring_of().rule_engine.handle_push(request_bytes())
    return "", 204


@bp.post("/tick")
def clock_tick():
    """Evaluate no-data rules and finish unfinished alerts; answers what was done."""
    _verify()
    outcome = wiring_of().rule_engine.tick()
    return {"evaluated": outcome.evaluated, "alerts": outcome.alerts}


def _verify() -> None:
    # In the cloud both routes take only Google-signed OIDC tokens of the push account (Pub/Sub and the scheduler).
    verifier = wiring_of().push_verifier
    if verifier is not None:
        verifier.verify(bearer_token(request.headers))
