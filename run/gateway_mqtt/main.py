"""Entry point of gateway-mqtt: the MQTT ports implemented with the shared ingestion core, then ``serve``.

MQTT over WebSocket listens on ``$PORT`` (with ``/healthz`` beside ``/mqtt``), MQTT over TCP on
``IOT_MQTT_TCP_PORT`` (0 turns it off, as on Cloud Run, which has no raw TCP).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timezone

from infra.clients import Clients
from infra.config import Settings
from infra.errors import AppError, ForbiddenError, RateLimitedError
from infra.gateway import build_ingestor
from infra.ingest import Identity, Ingestor
from infra.rejections import Rejection, record_rejections
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
    """Validate a publish with the shared ingestion core and await Pub/Sub's confirmation.

    A refused payload is recorded as a rejection the owner can list (``GET /api/devices/{id}/rejections``)
    before the gateway answers: an MQTT 3.1.1 client gets a plain PUBACK for it, so the record is where the
    refusal stays visible.
    """

    def __init__(self, ingestor: Ingestor, firestore):
        self.ingestor = ingestor
        self.firestore = firestore

    async def publish(self, identity: Identity, payload: bytes) -> int:
        try:
            batch = self.ingestor.accept(identity, payload)
        except RateLimitedError as exc:
            raise RateLimited(exc.message) from None
        except AppError as exc:
            await self._record(identity, exc, payload)
            raise InvalidPayload(exc.message) from None
        try:
            await asyncio.wrap_future(self.ingestor.publish_future(batch))
        except Exception as exc:
            raise ServiceUnavailable(f"telemetry could not be stored: {exc}") from exc
        return batch.count

    async def _record(self, identity: Identity, exc: AppError, payload: bytes) -> None:
        device = self.ingestor.directory.get(identity.device_id)
        problems = [f"record {d['index']}: {d['message']}" for d in (exc.details or [])[:5]
                    if isinstance(d, dict)]
        rejection = Rejection(reason="; ".join([exc.message, *problems]), message_id=uuid.uuid4().hex,
                              published_at=datetime.now(timezone.utc), owner_id=device.owner_id if device else None,
                              device_id=identity.device_id, sample=payload.decode("utf-8", "replace"),
                              source="gateway-mqtt")
        try:
            await asyncio.get_running_loop().run_in_executor(None, record_rejections, self.firestore, [rejection])
        except Exception as error:  # unrecorded, it must not be acknowledged: the client will resend
            raise ServiceUnavailable(f"the refusal could not be recorded: {error}") from error
        logger.warning("refused an MQTT publish of device %s: %s", identity.device_id, exc.message,
                       extra={"device_id": identity.device_id, "error_code": exc.code})


def limits_for(settings: Settings) -> Limits:
    """Gateway limits: packets may be as large as the ingestion body limit plus MQTT framing."""
    return Limits(max_packet_size=settings.ingest_max_bytes + 1024)


def main(settings: Settings, port: int) -> int:
    """Serve MQTT until SIGTERM; return the exit code."""
    clients = Clients(settings)
    ingestor = build_ingestor(settings, clients, "mqtt")
    try:
        asyncio.run(serve(TokenAuthenticator(ingestor), PubSubSink(ingestor, clients.firestore), host=settings.bind_host,
                          tcp_port=settings.mqtt_tcp_port or None, ws_port=port, limits=limits_for(settings)))
    finally:
        clients.close()
    return 0
