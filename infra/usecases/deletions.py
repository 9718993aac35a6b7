"""Deleting what a sensor, device or user left in the time-series store (``infra.domain.deletions``).

- ``request_deletion``: the management API records a durable task when it deletes the metadata.
- ``DeletionWorker.tick``: the pipeline advances every open task a step (on the scheduler's tick): wait out the
  caches, start an asynchronous erase, follow it, check that nothing is left, and start again if anything is.
  Every step is idempotent and its state is in the task's record, so a restart (or a second worker) resumes it.
- ``Tombstones``: the pipeline's cached view of the tasks, so it drops late readings of deleted things.
- ``visible_deletion`` and ``visible_open_deletions``: what owners and admins may read of the tasks.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from infra.domain.deletions import FIELDS, TOMBSTONE_DAYS, Deletion, new_deletion
from infra.domain.errors import NotFoundError, ServiceUnavailableError, StoreUnavailableError
from infra.domain.model import User, utc_now
from infra.domain.ports import DeletionStore, ReadingsEraser

logger = logging.getLogger(__name__)

TICK_BATCH = 100  # open tasks advanced per tick; the rest wait for the next one
# The pipeline re-reads tombstones requested this long before its previous read, for API instances' clock skew.
TOMBSTONE_OVERLAP = timedelta(minutes=5)


def request_deletion(store: DeletionStore, kind: str, value: str, owner_id: str, caller: User, grace: timedelta,
                     now: datetime | None = None) -> Deletion:
    """Record the erasure of what ``kind`` ``value`` (owned by ``owner_id``) left in the store.

    Called before the metadata goes, so a failure here leaves the object in place to be deleted again.
    """
    deletion = new_deletion(kind, value, owner_id, caller.id, now or utc_now(), grace)
    store.add(deletion)
    logger.info("deletion %s of %s %s requested; erasing from %s", deletion.id, kind, value,
                deletion.not_before.isoformat(), extra={"deletion_id": deletion.id, "owner_id": owner_id})
    return deletion


class DeletionRequests:
    """``request_deletion`` with the store and grace of this process (what the delete use cases take)."""

    def __init__(self, store: DeletionStore, grace: timedelta, clock: Callable[[], datetime] = utc_now):
        self.store = store
        self.grace = grace
        self.clock = clock

    def request(self, kind: str, value: str, owner_id: str, caller: User) -> Deletion:
        return request_deletion(self.store, kind, value, owner_id, caller, self.grace, self.clock())


def delete_erasing(erasures: DeletionRequests | None, kind: str, value: str, owner_id: str, caller: User,
                   delete: Callable[[], bool]) -> tuple[bool, Deletion | None]:
    """Run ``delete`` (the metadata's), with the erasure of its readings requested first when ``erasures`` is given.

    The request comes first so that no deleted object is ever left without one; it is discarded again when the
    delete fails or finds nothing, so a sensor that still exists never has its readings erased or dropped.
    Answers whether ``delete`` found the object, and the deletion task.
    """
    if erasures is None:
        return delete(), None
    deletion = erasures.request(kind, value, owner_id, caller)
    try:
        found = delete()
    except BaseException:
        erasures.store.discard(deletion.id)
        raise
    if not found:
        erasures.store.discard(deletion.id)
        return False, None
    return True, deletion


def visible_deletion(store: DeletionStore, caller: User, deletion_id: str) -> Deletion:
    """The task, for its owner or an admin.

    Raises:
        NotFoundError: no such task, or another tenant's.
    """
    deletion = store.get(deletion_id)
    if deletion is None or not (caller.is_admin or deletion.owner_id == caller.id):
        raise NotFoundError("deletion not found")
    return deletion


def visible_open_deletions(store: DeletionStore, caller: User, limit: int) -> list[Deletion]:
    """The unfinished tasks: every one for an admin, the caller's own otherwise."""
    return store.open_deletions(None if caller.is_admin else caller.id, limit)


class DeletionWorker:
    """Advance open deletion tasks, one step per tick."""

    def __init__(self, store: DeletionStore, eraser: ReadingsEraser, clock: Callable[[], datetime] = utc_now):
        self.store = store
        self.eraser = eraser
        self.clock = clock

    def tick(self) -> dict[str, Any]:
        """Advance every open task whose grace has passed; return what finished and what is still open."""
        finished, still_open, failing = [], [], []
        for deletion in self.store.open_deletions(None, TICK_BATCH):
            after = self.advance(deletion, self.clock())
            if after != deletion:
                self.store.save(after)
            (still_open if after.open else finished).append(after.id)
            if after.last_error:
                failing.append(after.id)
        return {"finished": finished, "open": still_open, "failing": failing}

    def advance(self, deletion: Deletion, now: datetime) -> Deletion:
        """One step of one task (nothing before its ``not_before``); errors are kept on the task for the next tick."""
        if now < deletion.not_before:
            return deletion
        field, value = deletion.field, deletion.value
        try:
            if deletion.es_task is not None:
                if self.eraser.finished(deletion.es_task) is False:
                    return deletion  # still erasing
                deletion = replace(deletion, es_task=None)  # done, failed or forgotten: look at what is left
            left = self.eraser.remaining(field, value)
            if left == 0:
                logger.info("deletion %s done: no reading of %s %s left (%d erased in %d attempt(s))", deletion.id,
                            deletion.kind, value, deletion.erased, deletion.attempts,
                            extra={"deletion_id": deletion.id, "owner_id": deletion.owner_id})
                return deletion.finished(now)
            task = self.eraser.start(field, value)
        except StoreUnavailableError as exc:
            logger.warning("deletion %s: %s (retried on the next tick)", deletion.id, exc.message,
                           extra={"deletion_id": deletion.id})
            return replace(deletion, last_error=exc.message[:300])
        logger.info("deletion %s: erasing %d reading(s) of %s %s (task %s)", deletion.id, left, deletion.kind, value,
                    task, extra={"deletion_id": deletion.id, "owner_id": deletion.owner_id})
        return replace(deletion, es_task=task, attempts=deletion.attempts + 1, erased=deletion.erased + left,
                       last_error=None)


class Tombstones:
    """The deletions the pipeline knows of, re-read at most every ``ttl`` seconds (only the new ones).

    ``keep`` drops the records of a message that a deletion covers; the caller indexes the rest.
    """

    def __init__(self, store: DeletionStore, ttl: float, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = utc_now):
        self.store = store
        self.ttl = ttl
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        self._since: datetime | None = None
        self._requested: dict[tuple[str, str], datetime] = {}  # (field, value) -> when its deletion was requested

    def keep(self, meta: dict[str, Any], records: Sequence[Any]) -> list[Any]:
        """The records not covered by a deletion (of their sensor, the message's device or its owner).

        Raises:
            ServiceUnavailableError: the deletions could not be read; the message must come again.
        """
        covered = self._covered()
        if not covered:
            return list(records)
        if (FIELDS["device"], meta.get("device_id")) in covered or (FIELDS["user"], meta.get("owner_id")) in covered:
            return []
        sensor = FIELDS["sensor"]
        return [r for r in records if not (isinstance(r, dict) and (sensor, r.get("sensor_id")) in covered)]

    def _covered(self) -> dict[tuple[str, str], datetime]:
        with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at >= self.ttl:
                wall = self._wall()
                since = self._since or wall - timedelta(days=TOMBSTONE_DAYS)
                try:
                    found = self.store.requested_since(since)
                except Exception as exc:  # any backend failure: indexing a deleted sensor's readings is worse
                    raise ServiceUnavailableError(f"the deletions could not be read: {exc}", retry_after=10,
                                                  code="deletions_unavailable") from exc
                for deletion in found:
                    self._requested[(deletion.field, deletion.value)] = deletion.requested_at
                horizon = wall - timedelta(days=TOMBSTONE_DAYS + 1)
                self._requested = {key: at for key, at in self._requested.items() if at >= horizon}
                self._since = wall - TOMBSTONE_OVERLAP
                self._loaded_at = now
            return self._requested
