"""Deletion tasks in Firestore: the ``deletions`` collection, one document per task (``infra.domain.deletions``).

``{kind, value, owner_id, requested_by, requested_at, not_before, state, attempts, erased, es_task, last_error,
completed_at, purge_at}``, keyed by the task's id. Queries use only Firestore's automatic single-field indexes
(``state``, ``owner_id``, ``requested_at``); ``purge_at``, set when a task is done, lets a Firestore TTL policy
remove the record once its tombstone is no longer needed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from infra.domain.deletions import PENDING, Deletion
from infra.domain.model import valid_id

COLLECTION = "deletions"
EXPIRY_FIELD = "purge_at"  # a Firestore TTL policy on it (terraform/project.tf) deletes finished tasks' records
DEFAULT_LIMIT = 100


class FirestoreDeletions:
    """The ``DeletionStore`` port on Firestore."""

    def __init__(self, client: firestore.Client):
        self._db = client

    def add(self, deletion: Deletion) -> None:
        self._db.collection(COLLECTION).document(deletion.id).create(_document(deletion))

    def save(self, deletion: Deletion) -> None:
        self._db.collection(COLLECTION).document(deletion.id).set(_document(deletion))

    def discard(self, deletion_id: str) -> None:
        self._db.collection(COLLECTION).document(deletion_id).delete()

    def get(self, deletion_id: str) -> Deletion | None:
        if not valid_id(deletion_id):
            return None
        snapshot = self._db.collection(COLLECTION).document(deletion_id).get()
        return _deletion(snapshot) if snapshot.exists else None

    def open_deletions(self, owner_id: str | None = None, limit: int = DEFAULT_LIMIT) -> list[Deletion]:
        query = self._db.collection(COLLECTION).where(filter=FieldFilter("state", "==", PENDING))
        if owner_id is not None:
            query = query.where(filter=FieldFilter("owner_id", "==", owner_id))
        # Ordered here, not by the query: equality plus an order on another field would need a composite index.
        found = [_deletion(snapshot) for snapshot in query.limit(limit).stream()]
        return sorted(found, key=lambda d: (d.requested_at, d.id))

    def requested_since(self, since: datetime) -> list[Deletion]:
        query = self._db.collection(COLLECTION).where(filter=FieldFilter("requested_at", ">=", since))
        return [_deletion(snapshot) for snapshot in query.stream()]


def _document(deletion: Deletion) -> dict[str, Any]:
    return {"kind": deletion.kind, "value": deletion.value, "owner_id": deletion.owner_id,
            "requested_by": deletion.requested_by, "requested_at": deletion.requested_at,
            "not_before": deletion.not_before, "state": deletion.state, "attempts": deletion.attempts,
            "erased": deletion.erased, "es_task": deletion.es_task, "last_error": deletion.last_error,
            "completed_at": deletion.completed_at, EXPIRY_FIELD: deletion.purge_at()}


def _deletion(snapshot) -> Deletion:
    data = snapshot.to_dict()
    return Deletion(id=snapshot.id, kind=data["kind"], value=data["value"], owner_id=data["owner_id"],
                    requested_by=data.get("requested_by") or "", requested_at=data["requested_at"],
                    not_before=data["not_before"], state=data.get("state") or PENDING,
                    attempts=int(data.get("attempts") or 0), erased=int(data.get("erased") or 0),
                    es_task=data.get("es_task"), last_error=data.get("last_error"),
                    completed_at=data.get("completed_at"))
