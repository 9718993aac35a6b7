"""gateway-ws: device ingestion over WebSocket, one ack frame per received frame.

The device token is checked on the upgrade request (401/403 before upgrading), and a device may hold
``IOT_WS_MAX_SOCKETS_PER_DEVICE`` sockets per instance (429 ``too_many_sockets`` before upgrading). Each
text or binary frame holds one record or an array; the reply frame is
``{"ok": true, "accepted": n, "replaced": k}`` once Pub/Sub confirmed, or
``{"ok": false, "status": ..., "error": {"code", "message"}}``. The server closes the socket (1008) when the
token expires or its key is rotated. Pings every ``PING_INTERVAL`` keep idle sockets alive through proxies.
Memory per socket is bounded (``bounded_socket``): at most ``IOT_WS_MAX_PENDING_FRAMES`` frames wait for
their ack before the socket is no longer read, and a compressed frame may inflate to the body limit only.

Serving: each open socket holds one gunicorn thread (plus simple-websocket's reader thread) for its life, so
the service runs gthread with as many threads as sockets it should hold (run/services.py), and Cloud Run's
concurrency equals that number with a 3600 s request timeout; devices reconnect when it ends.
"""

from __future__ import annotations

import logging
import time

import orjson
from flask import Blueprint, Flask, Response, g, request

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.domain.errors import AppError
from infra.wiring.gateway import build_ingestor
from infra.usecases.ingest import Identity, Ingestor
from infra.web.app import bearer_token, create_flask_app
from infra.wiring import wiring_of
from run.gateway_ws.bounded_socket import BoundedSocket, serve_websocket
from run.gateway_ws.device_sockets import DeviceSockets

logger = logging.getLogger(__name__)
bp = Blueprint("gateway_ws", __name__)

PING_INTERVAL = 25  # seconds; below the usual 30-60 s idle timeouts of proxies and load balancers
REVALIDATE_INTERVAL = 15  # seconds between checks that an idle socket's token still holds
POLICY_VIOLATION = 1008


@bp.before_request
def authenticate_upgrade() -> None:
    """Refuse the upgrade with a JSON 401/403 unless a current device token is presented."""
    g.identity = wiring_of().ingestor.authenticate(bearer_token(request.headers))


@bp.route("/", websocket=True)
def stream() -> Response:
    """Acknowledge every frame in order until the device or the token's validity ends the socket."""
    wiring = wiring_of()
    ingestor, identity = wiring.ingestor, g.identity
    sockets: DeviceSockets = wiring.extras["device_sockets"]
    with sockets.held_by(identity.device_id):  # refused (429) before upgrading when the device holds its most
        return serve_websocket(request.environ, wiring.extras["ws_options"],
                               lambda ws: _acknowledge_frames(ws, ingestor, identity))


def _acknowledge_frames(ws: BoundedSocket, ingestor: Ingestor, identity: Identity) -> None:
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
    wiring = wiring_of(app)
    settings = wiring.settings
    ingestor = wiring.ingestor = ingestor or build_ingestor(settings, wiring.clients, "ws")
    wiring.extras["device_sockets"] = DeviceSockets(settings.ws_max_sockets_per_device)
    # Uncompressed frames up to 4x the request limit get a 413 ack; beyond that the socket is closed (1009)
    # unread. A compressed frame is closed (1009) once it inflates beyond the limit itself.
    wiring.extras["ws_options"] = {"ping_interval": PING_INTERVAL,
                                   "max_message_size": 4 * ingestor.limits.max_body_bytes,
                                   "max_inflated_bytes": ingestor.limits.max_body_bytes,
                                   "max_pending_frames": settings.ws_max_pending_frames}
    app.register_blueprint(bp)
    return app
