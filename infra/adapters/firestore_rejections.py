"""Rejections in Firestore: the ``rejections`` collection, one document per refused message or record.

``{owner_id, device_id, sensor_id, source, reason, message_id, part, at, recorded_at, sample, expire_at}``, keyed by
``Rejection.id`` (newest first in id order, so listing needs only Firestore's automatic single-field indexes).
``expire_at`` lets a Firestore TTL policy remove rejections after ``RETENTION``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from infra.domain.rejections import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, RETENTION, Rejection, truncate

COLLECTION = "rejections"
EXPIRY_FIELD = "expire_at"  # a Firestore TTL policy on it (terraform/project.tf) deletes old rejections
_BATCH = 400  # Firestore allows 500 writes per commit


class FirestoreRejections:
    """The ``RejectionStore`` port on Firestore."""

    def __init__(self, client: firestore.Client):
        self._db = client

    def record(self, rejections: Sequence[Rejection]) -> list[str]:
        """Store ``rejections`` (idempotently, in batched commits); return their document ids.

        Raises whatever Firestore raises: the caller must not acknowledge a message whose rejection was not stored.
        """
        now = datetime.now(timezone.utc)
        collection = self._db.collection(COLLECTION)
        for start in range(0, len(rejections), _BATCH):
            batch = self._db.batch()
            for rejection in rejections[start:start + _BATCH]:
                batch.set(collection.document(rejection.id), _document(rejection, now))
            batch.commit()
        return [rejection.id for rejection in rejections]

    def list(self, owner_id: str, device_id: str | None = None,
             limit: int = DEFAULT_LIST_LIMIT) -> list[dict[str, Any]]:
        """An owner's rejections, optionally of one device, newest first (at most ``MAX_LIST_LIMIT``).

        Each item: ``{id, owner_id, device_id, sensor_id, source, reason, message_id, part, at, sample}`` with
        ``at`` as ISO-8601 UTC.
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        query = self._db.collection(COLLECTION).where(filter=FieldFilter("owner_id", "==", owner_id))
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


def _document(rejection: Rejection, now: datetime) -> dict[str, Any]:
    return {"owner_id": rejection.owner_id, "device_id": rejection.device_id, "sensor_id": rejection.sensor_id,
            "source": rejection.source, "reason": rejection.reason[:1000], "message_id": rejection.message_id,
            "part": rejection.part, "at": rejection.published_at, "recorded_at": now,
            "sample": truncate(rejection.sample), EXPIRY_FIELD: now + RETENTION}


def _iso(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
