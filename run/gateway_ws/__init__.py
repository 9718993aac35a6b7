"""gateway-ws: device ingestion over WebSocket, one ack frame per received frame.

The device token is checked on the upgrade request (401/403 before upgrading). Each text or binary frame
holds one record or an array; the reply frame is ``{"ok": true, "accepted": n, "replaced": k}`` once Pub/Sub
confirmed, or
``{"ok": false, "status": ..., "error": {"code", "message"}}``. The server closes the socket (1008) when the
token expires or its key is rotated. Pings every ``PING_INTERVAL`` keep idle sockets alive through proxies.

Serving: each open socket holds one gunicorn thread (plus simple-websocket's reader thread) for its life, so
the service runs gthread with as many threads as sockets it should hold (run/services.py), and Cloud Run's
concurrency equals that number with a 3600 s request timeout; devices reconnect when it ends.
"""

from __future__ import annotations

import logging
import time

import orjson
from flask import Blueprint, Flask, current_app, g, request
from flask_sock import Sock

from infra.clients import Clients
from infra.config import Settings
from infra.errors import AppError
from infra.gateway import build_ingestor
from infra.ingest import Identity, Ingestor
from infra.web import bearer_token, create_flask_app

logger = logging.getLogger(__name__)
bp = Blueprint("gateway_ws", __name__)
sock = Sock()

PING_INTERVAL = 25  # seconds; below the usual 30-60 s idle timeouts of proxies and load balancers
REVALIDATE_INTERVAL = 15  # seconds between checks that an idle socket's token still holds
POLICY_VIOLATION = 1008


@bp.before_request
def authenticate_upgrade() -> None:
    """Refuse the upgrade with a JSON 401/403 unless a current device token is presented."""
    ingestor: Ingestor = current_app.extensions["iot.ingestor"]
    g.identity = ingestor.authenticate(bearer_token(request.headers))


@sock.route("/", bp=bp)
def stream(ws) -> None:
    """Acknowledge every frame in order until the device or the token's validity ends the socket."""
    ingestor: Ingestor = current_app.extensions["iot.ingestor"]
    identity: Identity = g.identity
    while True:
        frame = ws.receive(timeout=_seconds_until_check(identity))
        if not ingestor.still_valid(identity):
            ws.close(reason=POLICY_VIOLATION, message="token expired or revoked")
            return
        if frame is not None:
            ws.send(orjson.dumps(_ack(ingestor, identity, frame)).decode())


def _ack(ingestor: Ingestor, identity: Identity, frame: str | bytes) -> dict:
    payload = frame.encode() if isinstance(frame, str) else frame
    try:
        return {"ok": True, **ingestor.ingest(identity, payload).to_dict()}
    except AppError as exc:
        ack = {"ok": False, "status": exc.status, **exc.to_dict()}
        if "Retry-After" in exc.headers:
            ack["retry_after"] = int(exc.headers["Retry-After"])
        return ack
    except Exception:  # the socket stays up; the device sees a generic error, the log the cause
        logger.exception("ingesting a WebSocket frame failed")
        return {"ok": False, "status": 500, "error": {"code": "internal", "message": "internal error"}}


def _seconds_until_check(identity: Identity) -> float:
    if identity.expires_at is None:
        return REVALIDATE_INTERVAL
    return max(0.05, min(REVALIDATE_INTERVAL, identity.expires_at - time.time()))


def create_app(settings: Settings | None = None, clients: Clients | None = None,
               ingestor: Ingestor | None = None) -> Flask:
    """Build the gateway-ws app; the ingestor defaults to one built from settings."""
    app = create_flask_app("gateway-ws", settings, clients)
    ingestor = ingestor or build_ingestor(app.extensions["iot.settings"], app.extensions["iot.clients"], "ws")
    app.extensions["iot.ingestor"] = ingestor
    # Frames up to 4x the request limit get a 413 ack; beyond that the socket is closed (1009) unread.
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": PING_INTERVAL,
                                         "max_message_size": 4 * ingestor.limits.max_body_bytes}
    app.register_blueprint(bp)
    return app
