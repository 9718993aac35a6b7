"""The one ingestion path of the three gateways: authenticate a device, validate its records, publish them.

HTTP, WebSocket and MQTT differ only in framing; each calls ``Ingestor.authenticate`` once per request or
connection and ``Ingestor.accept`` + ``publish`` per message. Errors are ``AppError`` subclasses whose status
each transport maps to its own codes. Nothing here reads Firestore per request once the device cache is warm.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import orjson

from infra.domain.errors import (AppError, BadRequestError, ForbiddenError, PayloadTooLargeError, RateLimitedError,
                          ServiceUnavailableError, ValidationError)
from infra.domain.ports import Publisher
from infra.domain.ports import PublishError
from infra.domain.telemetry import MESSAGE_SCHEMA, Invalid, ReadingBounds, format_timestamp, normalise_records
from infra.domain.ports import TokenVerifier
from infra.domain.rejections import REFUSAL_SCHEMA, truncate
from infra.domain.claims import DEVICE, TokenError
from infra.usecases.caches import TtlCache
from infra.usecases.presence import PresenceRecorder


@dataclass(frozen=True)
class DeviceProfile:
    """What ingestion needs to know of a device: its owner, current key version and sensors (id → type)."""

    id: str
    owner_id: str
    key_version: int
    sensors: Mapping[str, str]


@dataclass(frozen=True)
class Identity:
    """An authenticated device connection or request."""

    device_id: str
    key_version: int
    expires_at: float | None


@dataclass(frozen=True)
class Limits:
    """Per-request bounds and the per-device rate limit (a token bucket per gateway instance, not global)."""

    max_body_bytes: int = 256 * 1024
    max_records: int = 1000
    rate_per_second: float = 100.0  # requests (or frames, or MQTT publishes) per device
    burst: int = 200
    bounds: ReadingBounds = field(default_factory=ReadingBounds)


@dataclass(frozen=True)
class Receipt:
    """What the device is told: records accepted, and how many of them a later record of the same request
    (same sensor and timestamp) replaced."""

    accepted: int
    replaced: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, "replaced": self.replaced}


@dataclass(frozen=True)
class Batch:
    """A request ready to publish as one Pub/Sub message: an accepted one's readings, or the report of a refusal."""

    data: bytes
    attributes: dict[str, str]
    count: int
    replaced: int = 0

    @property
    def receipt(self) -> Receipt:
        return Receipt(self.count, self.replaced)


class ReceiveClock:
    """Hands each request a range of nanoseconds no other request of this process gets.

    Records without a timestamp are taken at the request's receive time plus their position, and a reading's
    identity is (sensor, timestamp): two requests of one device must never share a nanosecond, even when the
    wall clock is coarse, stands still or steps back (NTP).
    """

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns):
        self._clock_ns = clock_ns
        self._next = 0
        self._lock = threading.Lock()

    def reserve(self, count: int) -> int:
        """The first of ``count`` nanoseconds reserved for one request (never before the wall clock)."""
        with self._lock:
            start = max(self._clock_ns(), self._next)
            self._next = start + max(1, count)
            return start


class RecentDeliveries:
    """Receive times of recent repeatable deliveries, so that a repeat gets the times of the original.

    An MQTT QoS 1 publish whose PUBACK was lost is sent again (DUP set) after the device reconnects. Keyed by
    device, packet id and payload digest, the resend gets the first delivery's receive time, so readings
    without a timestamp get the same identities and are stored once. Bounded (LRU) and per process: a resend
    that reaches another instance, or comes later than ``ttl``, counts as new (devices that need exactly-once
    across instances send timestamps).
    """

    def __init__(self, ttl: float = 600.0, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str, bytes], tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, bytes]) -> int | None:
        """The receive time of the delivery ``key``, if seen within ``ttl``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._clock() - entry[0] >= self.ttl:
                return None
            return entry[1]

    def put(self, key: tuple[str, str, bytes], receive_ns: int) -> None:
        """Remember a delivery's receive time."""
        with self._lock:
            self._entries[key] = (self._clock(), receive_ns)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


class DeviceDirectory:
    """The devices' profiles, cached (``TtlCache``: bounded LRU, one read per cold device however many ask).

    The TTL bounds how long a rotated key or a deleted device still works (at most the configured revocation
    delay). A record naming a sensor the cached profile lacks triggers one early reload, at most every
    ``refresh_interval`` seconds per device, so a sensor created a moment ago is accepted without letting bad
    requests cause a backend read each.
    """

    def __init__(self, load: Callable[[str], DeviceProfile | None], ttl: float, *, refresh_interval: float = 2.0,
                 max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.refresh_interval = refresh_interval
        self._cache = TtlCache(load, ttl, clock=clock, max_entries=max_entries)

    @property
    def ttl(self) -> float:
        return self._cache.ttl

    def get(self, device_id: str) -> DeviceProfile | None:
        """The device's profile, from cache while fresh."""
        return self._cache.get(device_id)

    def refresh(self, device_id: str) -> DeviceProfile | None:
        """Reload the profile unless it was loaded within ``refresh_interval`` (new sensors appear quickly)."""
        return self._cache.get(device_id, max_age=self.refresh_interval)

    def reload(self, device_id: str) -> DeviceProfile | None:
        """Read the profile now, replacing what is cached."""
        return self._cache.get(device_id, max_age=0)


class TokenBucket:
    """Per-key token buckets; ``take`` answers None when allowed, else the seconds to wait."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000):
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Spend one token of ``key``'s bucket."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._buckets.clear()
            self._buckets[key] = (tokens - 1.0, now)
            return None


class Ingestor:
    """Authenticate devices and turn their requests into confirmed Pub/Sub messages."""

    def __init__(self, verifier: TokenVerifier, directory: DeviceDirectory, publisher: Publisher, gateway: str,
                 limits: Limits | None = None, *, presence: PresenceRecorder | None = None,
                 clock_ns: Callable[[], int] = time.time_ns):
        self.verifier = verifier
        self.directory = directory
        self.publisher = publisher
        self.gateway = gateway
        self.limits = limits or Limits()
        self.presence = presence  # every authenticated request and accepted message counts as a sighting
        self._bucket = TokenBucket(self.limits.rate_per_second, self.limits.burst)
        self._receive_clock = ReceiveClock(clock_ns)
        self._deliveries = RecentDeliveries()

    def authenticate(self, token: str) -> Identity:
        """Verify a device token and check its key version is current.

        Raises:
            ForbiddenError: code ``invalid_token``, ``expired_token``, ``wrong_audience`` or ``revoked_token``.
        """
        try:
            claims = self.verifier.verify(token, DEVICE)
        except TokenError as exc:
            code = {"expired": "expired_token", "wrong_audience": "wrong_audience"}.get(exc.reason,
                                                                                        "invalid_token")
            raise ForbiddenError(exc.message, code=code) from None
        identity = Identity(claims.subject, claims.version, claims.expires_at)
        self._seen(self._current_device(identity))
        return identity

    def check_rate(self, identity: Identity) -> None:
        """Spend one request of the device's budget on this instance (telemetry and device control share it).

        Raises:
            RateLimitedError: 429 with the seconds to wait.
        """
        retry_after = self._bucket.take(identity.device_id)
        if retry_after is not None:
            raise RateLimitedError("too many requests from this device", retry_after=int(retry_after) + 1)

    def device_of(self, identity: Identity) -> DeviceProfile:
        """The authenticated device's profile (cached), if its key is still current.

        Raises:
            ForbiddenError: code ``revoked_token`` when the device is gone or its key was rotated.
        """
        return self._current_device(identity)

    def still_valid(self, identity: Identity) -> bool:
        """True while the token has not expired and its key was not rotated (cached check)."""
        if identity.expires_at is not None and time.time() > identity.expires_at:
            return False
        try:
            self._current_device(identity)
        except ForbiddenError:
            return False
        return True

    def accept(self, identity: Identity, body: bytes | Any, *, delivery_id: str | None = None,
               repeated: bool = False) -> Batch:
        """Rate-limit, parse and validate one request; return the message to publish.

        ``body`` is raw JSON bytes (parsed here) or an already parsed value. ``delivery_id`` names a delivery
        the transport may see again (an MQTT QoS 1 packet id); a ``repeated`` one (DUP) with the same bytes
        gets the original's receive time (``RecentDeliveries``).

        Raises:
            RateLimitedError, PayloadTooLargeError, BadRequestError, ValidationError, ForbiddenError.
        """
        self.check_rate(identity)
        delivery = None
        if isinstance(body, (bytes, bytearray, memoryview)):
            if len(body) > self.limits.max_body_bytes:
                raise PayloadTooLargeError(f"the body exceeds {self.limits.max_body_bytes} bytes")
            if delivery_id is not None:
                delivery = (identity.device_id, delivery_id, hashlib.blake2b(body, digest_size=16).digest())
            try:
                body = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise BadRequestError(f"malformed JSON: {exc}") from None
        device = self._current_device(identity)
        now_ns = self._receive_time(body, delivery, repeated)
        records = self._normalise(device, body, now_ns)
        if isinstance(records, Invalid) and _names_unknown_sensor(records):
            refreshed = self.directory.refresh(device.id)  # the sensor may have been created a moment ago
            if refreshed is not None and refreshed.sensors != device.sensors:
                device = refreshed
                records = self._normalise(device, body, now_ns)
        if isinstance(records, Invalid):
            raise ValidationError("the request holds invalid records; none were accepted",
                                  details=records.errors)
        message = {"device_id": device.id, "owner_id": device.owner_id, "received_at": format_timestamp(now_ns),
                   "gateway": self.gateway, "records": records}
        attributes = {"device_id": device.id, "owner_id": device.owner_id, "gateway": self.gateway,
                      "schema": MESSAGE_SCHEMA}
        sent = len(body) if isinstance(body, list) else 1
        self._seen(device)
        return Batch(orjson.dumps(message), attributes, sent, sent - len(records))

    def refusal(self, identity: Identity, error: AppError, body: bytes) -> Batch:
        """The message reporting a refused request, for the pipeline to record where the device's owner sees it.

        For a transport that cannot tell the device why (MQTT 3.1.1 has no reason codes). May read the device (its
        owner) on a cache miss.
        """
        device = self.directory.get(identity.device_id)
        owner_id = device.owner_id if device else ""
        problems = [f"record {d['index']}: {d['message']}" for d in (error.details or [])[:5] if isinstance(d, dict)]
        message = {"device_id": identity.device_id, "owner_id": owner_id, "gateway": self.gateway,
                   "received_at": format_timestamp(time.time_ns()), "reason": "; ".join([error.message, *problems]),
                   "sample": truncate(bytes(body).decode("utf-8", "replace"))}
        attributes = {"device_id": identity.device_id, "owner_id": owner_id, "gateway": self.gateway,
                      "schema": REFUSAL_SCHEMA}
        return Batch(orjson.dumps(message), attributes, 0)

    def publish(self, batch: Batch) -> Receipt:
        """Publish and wait for Pub/Sub's confirmation; return what to tell the device.

        Raises:
            ServiceUnavailableError: Pub/Sub did not confirm (the device should retry; nothing was accepted).
        """
        try:
            self.publisher.publish(batch.data, **batch.attributes)
        except PublishError as exc:
            raise ServiceUnavailableError(f"telemetry could not be stored: {exc}", retry_after=5) from None
        return batch.receipt

    def publish_future(self, batch: Batch) -> concurrent.futures.Future:
        """Start publishing; the future resolves when Pub/Sub confirmed (for asyncio transports)."""
        return self.publisher.publish_future(batch.data, **batch.attributes)

    def ingest(self, identity: Identity, body: bytes | Any) -> Receipt:
        """Accept and publish one request; return what to tell the device."""
        return self.publish(self.accept(identity, body))

    def _receive_time(self, body: Any, delivery: tuple[str, str, bytes] | None, repeated: bool) -> int:
        if delivery is not None and repeated:
            earlier = self._deliveries.get(delivery)
            if earlier is not None:
                return earlier
        count = min(len(body), self.limits.max_records) if isinstance(body, list) else 1
        now_ns = self._receive_clock.reserve(count)
        if delivery is not None:
            self._deliveries.put(delivery, now_ns)
        return now_ns

    def _current_device(self, identity: Identity) -> DeviceProfile:
        device = self.directory.get(identity.device_id)
        if device is not None and identity.key_version > device.key_version:
            # A token newer than the cache: the key was rotated since we looked. Only the issuer can sign such a
            # token, so this costs one read per rotation, and the new key works at once.
            device = self.directory.reload(identity.device_id)
        if device is None:
            raise ForbiddenError("the device no longer exists", code="revoked_token")
        if device.key_version != identity.key_version:
            raise ForbiddenError("the device key was rotated; download the new key", code="revoked_token")
        return device

    def _seen(self, device: DeviceProfile) -> None:
        if self.presence is not None:
            self.presence.seen(device.id, device.owner_id)

    def _normalise(self, device: DeviceProfile, body: Any, now_ns: int):
        try:
            return normalise_records(body, device.sensors, now_ns, self.limits.max_records, self.limits.bounds)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None


def _names_unknown_sensor(invalid: Invalid) -> bool:
    return any(error["field"] == "sensor_id" for error in invalid.errors)
