"""gateway-ws: device ingestion over WebSocket, one ack frame per received frame, and device control: the desired
state and commands pushed as frames, state and results sent as frames (``live_socket``, docs/device-control.md).

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

from flask import Flask

from infra.config import Settings
from infra.usecases.ingest import Ingestor
from infra.web.app import create_flask_app
from infra.wiring import wiring_of
from infra.wiring.clients import Clients
from infra.wiring.gateway import build_device_control, build_ingestor, build_live_sessions
from run.gateway_ws.device_sockets import DeviceSockets
from run.gateway_ws.views import PING_INTERVAL, bp


def create_app(settings: Settings | None = None, clients: Clients | None = None,
               ingestor: Ingestor | None = None) -> Flask:
    """Build the gateway-ws app; the ingestor defaults to one built from settings."""
    app = create_flask_app("gateway-ws", settings, clients)
    wiring = wiring_of(app)
    settings = wiring.settings
    ingestor = wiring.ingestor = ingestor or build_ingestor(settings, wiring.clients, "ws")
    wiring.extras["device_sockets"] = DeviceSockets(settings.ws_max_sockets_per_device)
    wiring.device_control = build_device_control(wiring.clients, ingestor.presence)
    wiring.extras["live_sessions"] = build_live_sessions(wiring.clients, ingestor.presence.instance)
    # Uncompressed frames up to 4x the request limit get a 413 ack; beyond that the socket is closed (1009)
    # unread. A compressed frame is closed (1009) once it inflates beyond the limit itself.
    wiring.extras["ws_options"] = {"ping_interval": PING_INTERVAL,
                                   "max_message_size": 4 * ingestor.limits.max_body_bytes,
                                   "max_inflated_bytes": ingestor.limits.max_body_bytes,
                                   "max_pending_frames": settings.ws_max_pending_frames}
    app.register_blueprint(bp)
    return app
