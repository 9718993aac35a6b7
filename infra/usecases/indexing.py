"""The pipeline's use-case: one Pub/Sub push of a ``telemetry/v1`` message becomes stored readings, one of a
``refusal/v1`` message (a gateway's report of a request it refused) a rejection.

``PushIndexer.handle`` returns normally when the message may be acknowledged: every record was stored, or
refused for good and recorded as a rejection its owner can list. It raises ``ServiceUnavailableError`` when
anything may succeed later (the store down or refusing for now, the rejection store down while recording):
the push is then answered non-2xx and Pub/Sub redelivers, up to the dead-letter policy. A permanently invalid
message is never answered 4xx, since Pub/Sub would redeliver it until it is dead-lettered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from infra.domain.errors import ServiceUnavailableError
from infra.domain.ports import RejectionStore, Stored, TelemetryWriter
from infra.domain.rejections import REFUSAL_SCHEMA, Rejection, truncate
from infra.domain.telemetry import MESSAGE_SCHEMA, RecordError, format_timestamp, parse_timestamp
from infra.usecases.deletions import Tombstones

logger = logging.getLogger(__name__)


class InvalidMessageError(ValueError):
    """The whole message is unusable (not a push envelope, not base64 or JSON, wrong schema or shape).

    ``pushed`` holds whatever could be read of it, for the rejection record.
    """

    def __init__(self, reason: str, pushed: "PushedMessage"):
        super().__init__(reason)
        self.pushed = pushed


@dataclass(frozen=True)
class PushedMessage:
    """What a push envelope carries: the message id, its publish time, attributes and the decoded data."""

    message_id: str
    published_at: datetime
    attributes: dict[str, str]
    data: bytes
    delivery_attempt: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of an acknowledged message."""

    message_id: str
    indexed: int
    rejected: int


def decode_envelope(body: bytes, now: datetime | None = None) -> PushedMessage:
    """Decode a push request body ``{"message": {"data", "attributes", "messageId", "publishTime"}, ...}``.

    Raises:
        InvalidMessageError: the body is not a push envelope or ``data`` is not base64.
    """
    now = now or datetime.now(timezone.utc)
    fallback = PushedMessage(hashlib.sha256(body).hexdigest()[:20], now, {}, body)
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidMessageError("the push body is not JSON", fallback) from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise InvalidMessageError("the push body holds no message object", fallback)
    message_id = message.get("messageId") or message.get("message_id") or fallback.message_id
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        attributes = {}
    attributes = {str(k): str(v) for k, v in attributes.items()}
    attempt = envelope.get("deliveryAttempt")
    pushed = PushedMessage(str(message_id), _publish_time(message, now), attributes, b"",
                           attempt if isinstance(attempt, int) else None)
    data = message.get("data")
    if not isinstance(data, str):
        raise InvalidMessageError("the message has no data", pushed)
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidMessageError("the message data is not base64", PushedMessage(
            pushed.message_id, pushed.published_at, attributes, data.encode(), pushed.delivery_attempt)) from None
    return PushedMessage(pushed.message_id, pushed.published_at, attributes, decoded, pushed.delivery_attempt)


class PushIndexer:
    """Store pushed telemetry messages; record what is refused for good."""

    def __init__(self, store: TelemetryWriter, rejections: RejectionStore, tombstones: Tombstones | None = None):
        self.store = store
        self.rejections = rejections
        self.tombstones = tombstones  # deletions whose late readings are dropped, not indexed

    def handle(self, body: bytes) -> Outcome:
        """Store the message of one push request body; return when it may be acknowledged.

        Raises:
            ServiceUnavailableError: nothing is lost, but the message must be redelivered.
        """
        try:
            pushed = decode_envelope(body)
            if pushed.attributes.get("schema") == REFUSAL_SCHEMA:
                self._reject(pushed, [_refusal(pushed)])
                return Outcome(pushed.message_id, 0, 1)
            meta, records = _telemetry(pushed)
        except InvalidMessageError as exc:
            pushed = exc.pushed
            sample = pushed.data.decode("utf-8", "replace")
            self._reject(pushed, [_rejection(pushed, str(exc), sample=sample)])
            return Outcome(pushed.message_id, 0, 1)
        if self.tombstones is not None:
            records = self._drop_deleted(pushed, meta, records)
            if not records:
                return Outcome(pushed.message_id, 0, 0)
        stored = self._store(pushed, records, meta)
        rejections = [_rejection(pushed, f"record {index}: {reason}", part=f"record-{index}", meta=meta,
                                 record=records[index]) for index, reason in sorted(stored.refused.items())]
        if rejections:
            self._reject(pushed, rejections)
        return Outcome(pushed.message_id, stored.indexed, len(rejections))

    def _drop_deleted(self, pushed: PushedMessage, meta: dict[str, Any], records: list) -> list:
        kept = self.tombstones.keep(meta, records)
        if len(kept) < len(records):
            logger.info("dropped %d reading(s) of message %s: their sensor, device or owner was deleted",
                        len(records) - len(kept), pushed.message_id,
                        extra={"message_id": pushed.message_id, "device_id": meta["device_id"]})
        return kept

    def _store(self, pushed: PushedMessage, records: list, meta: dict[str, Any]) -> Stored:
        try:
            return self.store.write(records, **meta)
        except ServiceUnavailableError as exc:
            logger.warning("message %s not stored, asking for redelivery: %s", pushed.message_id, exc.message,
                           extra={"message_id": pushed.message_id, "delivery_attempt": pushed.delivery_attempt})
            raise

    def _reject(self, pushed: PushedMessage, rejections: list[Rejection]) -> None:
        first = rejections[0]
        logger.warning("rejected %d part(s) of message %s (device %s, owner %s): %s", len(rejections),
                       pushed.message_id, first.device_id, first.owner_id, first.reason,
                       extra={"message_id": pushed.message_id, "device_id": first.device_id,
                              "owner_id": first.owner_id})
        try:
            self.rejections.record(rejections)
        except Exception as exc:  # any storage failure: do not acknowledge what was not recorded
            logger.error("recording the rejections of message %s failed: %s", pushed.message_id, exc)
            raise ServiceUnavailableError("rejections could not be recorded; redeliver the message",
                                          retry_after=10, code="rejections_unavailable") from exc


def _telemetry(pushed: PushedMessage) -> tuple[dict[str, Any], list]:
    """The document fields shared by a message's records, and its records."""
    schema = pushed.attributes.get("schema")
    if schema != MESSAGE_SCHEMA:
        raise InvalidMessageError(f"unsupported schema {str(schema)[:40]!r}; expected {MESSAGE_SCHEMA}", pushed)
    try:
        data = orjson.loads(pushed.data)
    except orjson.JSONDecodeError:
        raise InvalidMessageError("the message data is not JSON", pushed) from None
    if not isinstance(data, dict):
        raise InvalidMessageError("the message data is not a JSON object", pushed)
    meta = {}
    for name in ("device_id", "owner_id", "gateway"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidMessageError(f"the message lacks {name}", pushed)
        meta[name] = value
    try:
        meta["received_at"] = format_timestamp(parse_timestamp(data.get("received_at"), time.time_ns()))
    except RecordError:
        raise InvalidMessageError("the message's received_at is not a timestamp", pushed) from None
    records = data.get("records")
    if not isinstance(records, list) or not records:
        raise InvalidMessageError("the message holds no records", pushed)
    return meta, records


def _refusal(pushed: PushedMessage) -> Rejection:
    """The rejection a gateway reported (``Ingestor.refusal``), as it reported it."""
    try:
        data = orjson.loads(pushed.data)
    except orjson.JSONDecodeError:
        raise InvalidMessageError("the refusal is not JSON", pushed) from None
    if not isinstance(data, dict) or not all(isinstance(data.get(name), str) for name in ("reason", "gateway")):
        raise InvalidMessageError("the refusal lacks its reason or gateway", pushed)

    def text(name: str) -> str | None:
        value = data.get(name)
        return value if isinstance(value, str) and value else None

    return Rejection(reason=data["reason"], message_id=pushed.message_id, published_at=pushed.published_at,
                     owner_id=text("owner_id"), device_id=text("device_id"), sample=truncate(text("sample") or ""),
                     source=f"gateway-{data['gateway'][:20]}")


def _rejection(pushed: PushedMessage, reason: str, *, part: str = "message", meta: dict | None = None,
               record: Any = None, sample: str | None = None) -> Rejection:
    owner_id = (meta or {}).get("owner_id") or pushed.attributes.get("owner_id")
    device_id = (meta or {}).get("device_id") or pushed.attributes.get("device_id")
    sensor_id = record.get("sensor_id") if isinstance(record, dict) else None
    if sample is None:
        sample = orjson.dumps(record, default=str).decode() if record is not None else ""
    return Rejection(reason=reason, message_id=pushed.message_id, published_at=pushed.published_at, part=part,
                     owner_id=owner_id, device_id=device_id,
                     sensor_id=sensor_id if isinstance(sensor_id, str) else None, sample=truncate(sample))


def _publish_time(message: dict, now: datetime) -> datetime:
    raw = message.get("publishTime") or message.get("publish_time")
    if not isinstance(raw, str):
        return now
    try:
        ns = parse_timestamp(raw, time.time_ns())
    except RecordError:
        return now
    return datetime.fromtimestamp(ns // 10**9, timezone.utc).replace(microsecond=(ns % 10**9) // 1000)
