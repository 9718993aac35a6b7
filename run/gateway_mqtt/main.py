"""Entry point of gateway-mqtt: the MQTT ports implemented with the shared ingestion core, then ``serve``.

MQTT over WebSocket listens on ``$PORT`` (with ``/healthz`` beside ``/mqtt``), MQTT over TCP on
``IOT_MQTT_TCP_PORT`` (0 turns it off, as on Cloud Run, which has no raw TCP).
"""

from __future__ import annotations

import asyncio
import logging

from infra.clients import Clients
from infra.config import Settings
from infra.errors import AppError, ForbiddenError, RateLimitedError
from infra.gateway import build_ingestor
from infra.ingest import Identity, Ingestor
from run.gateway_mqtt.ports import BadCredentials, InvalidPayload, NotAuthorized, RateLimited, ServiceUnavailable
from run.gateway_mqtt.protocol import Limits
from run.gateway_mqtt.server import serve

logger = logging.getLogger(__name__)


class TokenAuthenticator:
    """CONNECT password = device token, verified like every gateway does (username is ignored)."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    def authenticate(self, username: str | None, password: bytes | None, client_id: str) -> Identity:
        if not password:
            raise BadCredentials("the device token is the CONNECT password")
        try:
            return self.ingestor.authenticate(password.decode("utf-8", "replace").strip())
        except ForbiddenError as exc:
            raise (NotAuthorized if exc.code == "revoked_token" else BadCredentials)(exc.message) from None
        except Exception as exc:  # Firestore unreachable on a cold cache: the client should retry
            raise ServiceUnavailable(str(exc)) from exc

    def still_valid(self, identity: Identity) -> bool:
        return self.ingestor.still_valid(identity)


class PubSubSink:
    """Validate a publish with the shared ingestion core and await Pub/Sub's confirmation."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    async def publish(self, identity: Identity, payload: bytes) -> int:
        try:
            batch = self.ingestor.accept(identity, payload)
        except RateLimitedError as exc:
            raise RateLimited(exc.message) from None
        except AppError as exc:
            logger.warning("refused an MQTT publish of device %s: %s", identity.device_id, exc.message,
                           extra={"device_id": identity.device_id, "error_code": exc.code})
            raise InvalidPayload(exc.message) from None
        try:
            await asyncio.wrap_future(self.ingestor.publish_future(batch))
        except Exception as exc:
            raise ServiceUnavailable(f"telemetry could not be stored: {exc}") from exc
        return batch.count


def limits_for(settings: Settings) -> Limits:
    """Gateway limits: packets may be as large as the ingestion body limit plus MQTT framing."""
    return Limits(max_packet_size=settings.ingest_max_bytes + 1024)


def main(settings: Settings, port: int) -> int:
    """Serve MQTT until SIGTERM; return the exit code."""
    clients = Clients(settings)
    ingestor = build_ingestor(settings, clients, "mqtt")
    try:
        asyncio.run(serve(TokenAuthenticator(ingestor), PubSubSink(ingestor), host=settings.bind_host,
                          tcp_port=settings.mqtt_tcp_port or None, ws_port=port, limits=limits_for(settings)))
    finally:
        clients.close()
    return 0
