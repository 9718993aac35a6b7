"""Entry point of gateway-mqtt: the MQTT ports implemented with the shared ingestion core, then ``serve``.

MQTT over WebSocket listens on ``$PORT`` (with ``/healthz`` beside ``/mqtt``), MQTT over TCP on
``IOT_MQTT_TCP_PORT`` (0 turns it off, as on Cloud Run, which has no raw TCP).

The ingestion core is synchronous and reads Firestore when its device cache misses. Every connection of the
instance shares one event loop, so those reads run in a thread pool (``Offloader``): a call that only needs
the cache runs inline, one that must read is refused on the loop (``MustReadError``) and run again in the
pool, so one slow read holds up only the connection that needs it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
from typing import Callable, TypeVar

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.domain.errors import AppError, ForbiddenError, RateLimitedError
from infra.wiring.gateway import build_device_control, build_ingestor, build_live_sessions
from infra.usecases.ingest import DeviceProfile, Identity, Ingestor
from infra.usecases.presence import PresenceRecorder
from run.gateway_mqtt.device_channel import ControlChannel
from run.gateway_mqtt.ports import (BadCredentials, InvalidPayload, NotAuthorized, RateLimited, ServiceUnavailable,
                                    Stored)
from run.gateway_mqtt.protocol import Limits
from run.gateway_mqtt.server import serve

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Threads for Firestore reads and presence writes; cache misses and sightings use them.
IO_THREADS = 16


class MustReadError(Exception):
    """A device must be read from Firestore, which the event loop's thread may not wait for."""


def off_the_event_loop(load: Callable[[str], DeviceProfile | None]) -> Callable[[str], DeviceProfile | None]:
    """Wrap the device loader of the ingestion core so that it refuses to run on an event loop's thread."""

    def guarded(device_id: str) -> DeviceProfile | None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread: reading is fine here
            return load(device_id)
        raise MustReadError(device_id)

    return guarded


class Offloader:
    """Run calls of the ingestion core without blocking the event loop."""

    def __init__(self, executor: concurrent.futures.Executor):
        self.executor = executor

    async def __call__(self, call: Callable[..., T], *args, **kwargs) -> T:
        """Run ``call`` inline while it needs no Firestore read (``MustReadError``), else in the pool."""
        try:
            return call(*args, **kwargs)
        except MustReadError:
            # The inline attempt may have spent a rate-limit token; this happens once per cache miss.
            return await self.in_thread(call, *args, **kwargs)

    async def in_thread(self, call: Callable[..., T], *args, **kwargs) -> T:
        """Run ``call`` in the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(call, *args, **kwargs))


class TokenAuthenticator:
    """CONNECT password = device token, verified like every gateway does (username is ignored)."""

    def __init__(self, ingestor: Ingestor, offload: Offloader):
        self.ingestor = ingestor
        self.offload = offload

    async def authenticate(self, username: str | None, password: bytes | None, client_id: str) -> Identity:
        if not password:
            raise BadCredentials("the device token is the CONNECT password")
        try:
            return await self.offload(self.ingestor.authenticate, password.decode("utf-8", "replace").strip())
        except ForbiddenError as exc:
            raise (NotAuthorized if exc.code == "revoked_token" else BadCredentials)(exc.message) from None
        except Exception as exc:  # Firestore unreachable on a cold cache: the client should retry
            raise ServiceUnavailable(str(exc)) from exc


class PubSubSink:
    """Validate a publish with the shared ingestion core and await Pub/Sub's confirmation.

    A refused payload becomes a rejection the owner can list (``GET /api/devices/{id}/rejections``) before the
    gateway answers: an MQTT 3.1.1 client gets a plain PUBACK for it, so the record is where the refusal stays
    visible. The gateway publishes a report of it on the telemetry topic and the pipeline records it, rather than
    the gateway writing Firestore: its IAM role reads Firestore only (run/permissions.py), and a write role would
    let an internet-facing process change devices, sensors and grants, where publishing is a grant it holds anyway.
    The delivery id is scoped to the device by the ingestion core, so two devices (or two clients of one device)
    never share one.
    """

    def __init__(self, ingestor: Ingestor, offload: Offloader):
        self.ingestor = ingestor
        self.offload = offload

    async def publish(self, identity: Identity, payload: bytes, *, delivery_id: str | None = None,
                      repeated: bool = False) -> Stored:
        try:
            batch = await self.offload(self.ingestor.accept, identity, payload, delivery_id=delivery_id,
                                       repeated=repeated)
        except RateLimitedError as exc:
            raise RateLimited(exc.message) from None
        except ForbiddenError as exc:  # the key was rotated or the device deleted since CONNECT
            raise NotAuthorized(exc.message) from None
        except AppError as exc:
            await self._record(identity, exc, payload)
            raise InvalidPayload(exc.message) from None
        try:
            await asyncio.wrap_future(self.ingestor.publish_future(batch))
        except Exception as exc:
            raise ServiceUnavailable(f"telemetry could not be stored: {exc}") from exc
        return Stored(batch.count, batch.replaced)

    async def _record(self, identity: Identity, exc: AppError, payload: bytes) -> None:
        try:
            refusal = await self.offload(self.ingestor.refusal, identity, exc, payload)
            await asyncio.wrap_future(self.ingestor.publish_future(refusal))
        except Exception as error:  # unrecorded, it must not be acknowledged: the client will resend
            raise ServiceUnavailable(f"the refusal could not be recorded: {error}") from error
        logger.warning("refused an MQTT publish of device %s: %s", identity.device_id, exc.message,
                       extra={"device_id": identity.device_id, "error_code": exc.code})


def limits_for(settings: Settings) -> Limits:
    """Gateway limits: packets may be as large as the ingestion body limit plus MQTT framing."""
    return Limits(max_packet_size=settings.ingest_max_bytes + 1024,
                  max_pending_per_address=settings.mqtt_max_pending_per_address)


def main(settings: Settings, port: int) -> int:
    """Serve MQTT until SIGTERM; return the exit code."""
    clients = Clients(settings).for_service("gateway-mqtt")
    executor = concurrent.futures.ThreadPoolExecutor(IO_THREADS, thread_name_prefix="mqtt-io")
    ingestor = build_ingestor(settings, clients, "mqtt", wrap_loader=off_the_event_loop,
                              presence_submit=executor.submit)
    offload = Offloader(executor)
    live = build_live_sessions(clients, ingestor.presence.instance)
    channel = ControlChannel(ingestor, build_device_control(clients, ingestor.presence), live, executor)
    stopping = threading.Event()
    # Sessions of silent devices stay fresh: a sweep per presence interval, from a thread of its own (writes go to
    # the pool).
    ticker = threading.Thread(target=_tick_presence, args=(ingestor.presence, stopping), daemon=True,
                              name="presence-tick")
    ticker.start()
    try:
        sink = PubSubSink(ingestor, offload)
        asyncio.run(serve(TokenAuthenticator(ingestor, offload), sink,
                          host=settings.bind_host, tcp_port=settings.mqtt_tcp_port or None, ws_port=port,
                          limits=limits_for(settings), trusted_proxy_hops=settings.trusted_proxy_hops,
                          channel=channel, nudges=live))
    finally:
        stopping.set()
        executor.shutdown(wait=False, cancel_futures=True)
        clients.close()
    return 0


def _tick_presence(presence: PresenceRecorder, stopping: threading.Event) -> None:
    while not stopping.wait(max(1.0, presence.interval / 2)):
        presence.tick()
