"""Routes of gateway-ws: the upgrade at ``/``, one ack frame per received frame, and the device's desired state and
commands pushed on its socket (``live_socket``; see the package's docstring)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Callable

import orjson
from flask import Blueprint, Response, g, request

from infra.domain.errors import AppError
from infra.usecases.ingest import Identity, Ingestor
from infra.web.auth import bearer_token
from infra.wiring import wiring_of
from run.gateway_ws.bounded_socket import BoundedSocket, serve_websocket
from run.gateway_ws.device_sockets import DeviceSockets
from run.gateway_ws.live_socket import LiveSocket, control_frame

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
    """Push the device's desired state and pending commands, then acknowledge every frame in order until the device
    or the token's validity ends the socket, pushing what is nudged meanwhile."""
    wiring = wiring_of()
    identity = g.identity
    sockets: DeviceSockets = wiring.extras["device_sockets"]
    with sockets.held_by(identity.device_id):  # refused (429) before upgrading when the device holds its most
        return serve_websocket(request.environ, wiring.extras["ws_options"], lambda ws: _serve(ws, identity))


def _serve(ws: BoundedSocket, identity: Identity) -> None:
    wiring = wiring_of()
    ingestor = wiring.ingestor
    try:
        device = ingestor.device_of(identity)
    except AppError:  # revoked (or deleted) since the upgrade was authorised
        ws.close(reason=POLICY_VIOLATION, message="token expired or revoked")
        return
    live = LiveSocket(ws, device, wiring.device_control, wiring.extras["live_sessions"])
    with live.session(uuid.uuid4().hex[:12]):
        _acknowledge_frames(ws, ingestor, identity, live)


def _acknowledge_frames(ws: BoundedSocket, ingestor: Ingestor, identity: Identity, live: LiveSocket) -> None:
    while True:
        frame = ws.receive(timeout=_seconds_until_check(identity))
        if ingestor.presence is not None:
            ingestor.presence.tick()  # keeps this instance's sessions fresh while their devices are silent
        if not ingestor.still_valid(identity):
            ws.close(reason=POLICY_VIOLATION, message="token expired or revoked")
            return
        if frame is not None:
            payload = frame.encode() if isinstance(frame, str) else frame
            control = control_frame(payload)
            if control is None:
                live.send(_ack(lambda: {"ok": True, **ingestor.ingest(identity, payload).to_dict()}))
            else:
                live.send(_ack(lambda: _answer_control(ingestor, identity, live, control)))


def _answer_control(ingestor: Ingestor, identity: Identity, live: LiveSocket, frame: dict) -> dict:
    ingestor.check_rate(identity)  # one budget per device with telemetry, as on gateway-http
    return live.answer(frame)


def _ack(answer: Callable[[], dict]) -> dict:
    try:
        return answer()
    except AppError as exc:
        ack = {"ok": False, "status": exc.status, **exc.to_dict()}
        if "Retry-After" in exc.headers:
            ack["retry_after"] = int(exc.headers["Retry-After"])
        return ack
    except Exception:  # the socket stays up; the device sees a generic error, the log the cause
        logger.exception("answering a WebSocket frame failed")
        return {"ok": False, "status": 500, "error": {"code": "internal", "message": "internal error"}}


def _seconds_until_check(identity: Identity) -> float:
    if identity.expires_at is None:
        return REVALIDATE_INTERVAL
    return max(0.05, min(REVALIDATE_INTERVAL, identity.expires_at - time.time()))
