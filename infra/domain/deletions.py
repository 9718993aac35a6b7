"""Deletion tasks: the readings a deleted sensor, device or user leaves in the time-series store, to be erased.

Deleting a sensor, a device or a user removes its metadata at once and records a ``Deletion``: what to erase (every
reading whose ``field`` equals ``value``: a sensor's id, a device's id or an owner's id), its state and attempts. The
pipeline works through the open ones on its deletion tick until the store holds none of those readings; until then
the deletion is ``pending`` (waiting out the caches, or erasing). Its record stays afterwards as a tombstone for
``TOMBSTONE_DAYS``, during which the pipeline drops any late reading it matches (one still in Pub/Sub's retries).

Why wait before erasing: a gateway may accept readings of a deleted sensor for as long as it caches the device's
profile (``IOT_REVOCATION_CACHE_TTL``), and the pipeline learns of new tombstones within the same time; so erasing
starts ``grace`` later (two cache lifetimes), after which nothing new of the target can be indexed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from infra.domain.model import iso, new_id

SENSOR, DEVICE, USER = "sensor", "device", "user"
# The document field naming what a deletion erases.
FIELDS = {SENSOR: "sensor_id", DEVICE: "device_id", USER: "owner_id"}
PENDING, DONE = "pending", "done"
TOMBSTONE_DAYS = 31  # longer than a message can wait in Pub/Sub (7 days) or be replayed from the dead letters


@dataclass(frozen=True)
class Deletion:
    """One deletion task.

    ``es_task`` is the store's asynchronous delete of the moment (None between attempts); ``attempts`` counts the
    deletes started; ``erased`` the readings erased so far.
    """

    id: str
    kind: str
    value: str
    owner_id: str
    requested_by: str
    requested_at: datetime
    not_before: datetime
    state: str = PENDING
    attempts: int = 0
    erased: int = 0
    es_task: str | None = None
    last_error: str | None = None
    completed_at: datetime | None = None

    @property
    def field(self) -> str:
        return FIELDS[self.kind]

    @property
    def open(self) -> bool:
        return self.state != DONE

    def purge_at(self) -> datetime | None:
        """When the finished task's record (and tombstone) may go."""
        return None if self.completed_at is None else self.completed_at + timedelta(days=TOMBSTONE_DAYS)

    def finished(self, now: datetime) -> "Deletion":
        return replace(self, state=DONE, es_task=None, last_error=None, completed_at=now)

    def to_reply(self) -> dict[str, Any]:
        """The API's view of the task."""
        return {"id": self.id, "kind": self.kind, "target_id": self.value, "owner_id": self.owner_id,
                "state": self.state, "requested_at": iso(self.requested_at), "not_before": iso(self.not_before),
                "completed_at": iso(self.completed_at), "attempts": self.attempts, "erased": self.erased,
                "last_error": self.last_error}


def new_deletion(kind: str, value: str, owner_id: str, requested_by: str, now: datetime, grace: timedelta
                 ) -> Deletion:
    """A pending deletion of what ``kind`` ``value`` left in the store, to start erasing after ``grace``."""
    if kind not in FIELDS:
        raise ValueError(f"unknown deletion kind {kind!r}")
    return Deletion(new_id(), kind, value, owner_id, requested_by, now, now + grace)


def erasing_grace(cache_ttl_seconds: float) -> timedelta:
    """How long after a deletion erasing starts: the gateways' and the pipeline's caches, one lifetime each."""
    return timedelta(seconds=2 * cache_ttl_seconds)
