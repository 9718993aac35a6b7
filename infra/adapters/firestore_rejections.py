"""Rejected telemetry: what the pipeline could not store for good, kept in Firestore where its owner can see it.

A rejection is written to the ``rejections`` collection, one document per refused message or record:
``{owner_id, device_id, sensor_id, source, reason, message_id, at, sample, expire_at}``. Document ids are
derived from the message (its Pub/Sub publish time, id and the refused part), so recording the same rejection
again, after a redelivery, overwrites instead of duplicating. Ids start with the inverted publish time, so
listing in id order lists newest first and needs only Firestore's automatic single-field indexes.
``expire_at`` lets a Firestore TTL policy remove rejections after ``RETENTION``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from google.cloud.firestore_v1.base_query import FieldFilter

COLLECTION = "rejections"
EXPIRY_FIELD = "expire_at"  # a Firestore TTL policy on it (terraform/project.tf) deletes old rejections
SAMPLE_CHARS = 512  # a refused message is kept only as a truncated sample
RETENTION = timedelta(days=30)
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 500
_BATCH = 400  # Firestore allows 500 writes per commit
_INVERT_NS = 10**19  # publish times in ns stay below this until the year 2286
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.:-]")


@dataclass(frozen=True)
class Rejection:
    """One refused message, or one refused record of a message (``part`` says which: ``message`` or ``record-N``)."""

    reason: str
    message_id: str
    published_at: datetime  # when Pub/Sub received the message: the same on every redelivery
    part: str = "message"
    owner_id: str | None = None
    device_id: str | None = None
    sensor_id: str | None = None
    sample: str = ""
    source: str = "pipeline"

    @property
    def id(self) -> str:
        """The document id: newest-first order, and the same for the same message and part."""
        ns = int(self.published_at.timestamp()) * 10**9 + self.published_at.microsecond * 1000
        name = _UNSAFE_ID.sub("_", f"{self.message_id}.{self.part}")[:200]
        return f"{_INVERT_NS - ns:019d}.{self.source}.{name}"

    def to_document(self, now: datetime) -> dict[str, Any]:
        return {"owner_id": self.owner_id, "device_id": self.device_id, "sensor_id": self.sensor_id,
                "source": self.source, "reason": self.reason[:1000], "message_id": self.message_id,
                "part": self.part, "at": self.published_at, "recorded_at": now,
                "sample": truncate(self.sample), EXPIRY_FIELD: now + RETENTION}


def truncate(text: str, limit: int = SAMPLE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def record_rejections(db, rejections: Sequence[Rejection]) -> list[str]:
    """Store ``rejections`` (idempotently, in batched commits); return their document ids.

    Raises whatever Firestore raises: the caller must not acknowledge a message whose rejection was not stored.
    """
    now = datetime.now(timezone.utc)
    collection = db.collection(COLLECTION)
    for start in range(0, len(rejections), _BATCH):
        batch = db.batch()
        for rejection in rejections[start:start + _BATCH]:
            batch.set(collection.document(rejection.id), rejection.to_document(now))
        batch.commit()
    return [rejection.id for rejection in rejections]


def list_rejections(db, owner_id: str, device_id: str | None = None,
                    limit: int = DEFAULT_LIST_LIMIT) -> list[dict[str, Any]]:
    """An owner's rejections, optionally of one device, newest first (at most ``MAX_LIST_LIMIT``).

    Each item: ``{id, owner_id, device_id, sensor_id, source, reason, message_id, part, at, sample}`` with
    ``at`` as ISO-8601 UTC.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    query = db.collection(COLLECTION).where(filter=FieldFilter("owner_id", "==", owner_id))
    if device_id is not None:
        query = query.where(filter=FieldFilter("device_id", "==", device_id))
    items = []
    for snapshot in query.order_by("__name__").limit(limit).stream():
        data = snapshot.to_dict()
        items.append({
            "id": snapshot.id, "owner_id": data.get("owner_id"), "device_id": data.get("device_id"),
            "sensor_id": data.get("sensor_id"), "source": data.get("source"), "reason": data.get("reason"),
            "message_id": data.get("message_id"), "part": data.get("part"), "at": _iso(data.get("at")),
            "sample": data.get("sample", ""),
        })
    return items


def _iso(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
