"""Nudges through per-instance inboxes in the device-control database: the ``ControlBus`` port (api-devices) and
the listener each WebSocket or MQTT gateway instance runs on its own inbox (docs/device-control.md).

``inboxes/{instance}/nudges/{auto-id}``: ``{device_id, kind, payload, purge_at}``. ``payload`` is the nudge's body
as JSON text (a desired state may use keys Firestore refuses as field names): ``{"command": {...}}`` for a command,
``{"version", "desired"}`` for a desired state. api-devices leaves one nudge in the inbox of each instance holding a
live session of the device (the instance ids of its presence sessions); the instance's listener hands it to its
sessions and deletes it. A Firestore TTL policy on ``purge_at`` (terraform/project.tf) empties the inboxes of
instances that died. Everything stays in the control database, which the gateways may write anyway: they need no
Pub/Sub subscription of their own, hence no project-wide right to consume (docs/security.md).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Collection, Mapping

import orjson
from google.api_core import exceptions as google_errors
from google.api_core import retry as google_retry

from infra.domain.ports import PublishError

logger = logging.getLogger(__name__)

INBOXES, NUDGES = "inboxes", "nudges"
NUDGE_EXPIRY_FIELD = "purge_at"  # a Firestore TTL policy on the `nudges` collection group deletes them
NUDGE_RETENTION = timedelta(minutes=10)  # a nudge matters for seconds; the store is the record
BATCH_SIZE = 400  # Firestore allows 500 writes per commit
INSTANCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a presence instance id (infra.usecases.presence): a document id
# The API waits for the write before it answers (on Cloud Run, work left after the answer may get no CPU), but not
# long: the command or desired state is stored already. The timeout bounds the retries too (the client's default
# retry would go on for a minute).
NUDGE_TIMEOUT = 2.0
NUDGE_RETRY = google_retry.Retry(initial=0.1, maximum=1.0, timeout=NUDGE_TIMEOUT)


@dataclass(frozen=True)
class Nudge:
    """One nudge: a new command (``body["command"]``) or desired state (``body["version"]``, ``body["desired"]``)."""

    kind: str
    device_id: str
    body: dict[str, Any]


def parse_nudge(record: Mapping[str, Any] | None) -> Nudge | None:
    """The nudge an inbox document holds, or None when it is not one (logged)."""
    try:
        kind, device_id, body = record["kind"], record["device_id"], orjson.loads(record["payload"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        body = kind = device_id = None
    if not isinstance(kind, str) or not isinstance(device_id, str) or not isinstance(body, dict):
        logger.warning("ignored a malformed device-control nudge")
        return None
    return Nudge(kind, device_id, body)


def inbox(client, instance: str):
    """The collection of the instance's nudges."""
    return client.collection(INBOXES).document(instance).collection(NUDGES)


class FirestoreInbox:
    """Leaves nudges in the inboxes of gateway instances (one batched write per command or desired state)."""

    def __init__(self, client, *, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.db = client
        self.clock = clock

    def nudge(self, instances: Collection[str], kind: str, device_id: str, body: Mapping[str, Any]) -> None:
        """Write one nudge into each instance's inbox. Raises ``PublishError``."""
        record = {"device_id": device_id, "kind": kind, "payload": orjson.dumps(dict(body)).decode(),
                  NUDGE_EXPIRY_FIELD: self.clock() + NUDGE_RETENTION}
        batch = self.db.batch()
        for instance in sorted(i for i in instances if INSTANCE_ID.fullmatch(i)):
            batch.set(inbox(self.db, instance).document(), record)
        try:
            batch.commit(retry=NUDGE_RETRY, timeout=NUDGE_TIMEOUT)
        except google_errors.GoogleAPIError as exc:  # refused, unavailable, or retried past its deadline
            raise PublishError(f"nudge not written: {exc}") from exc


class InboxListener:
    """Listens to one instance's inbox: every nudge added is handed to ``on_nudge``, then deleted.

    Args:
        on_nudge: called on the listener's thread, once per nudge; it must not block for long.
    """

    def __init__(self, client, instance: str, on_nudge: Callable[[Nudge], None]):
        self.db = client
        self.instance = instance
        self.on_nudge = on_nudge
        self._watch = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether the listener is on."""
        return self._watch is not None

    def start(self) -> None:
        """Start listening (idempotent); nudges already waiting come first, as added ones."""
        with self._lock:
            if self._watch is None:
                self._watch = inbox(self.db, self.instance).on_snapshot(self._changed)
                logger.info("receiving device-control nudges in inbox %s", self.instance)

    def stop(self) -> None:
        """Stop listening (at process exit); nudges left behind expire with the TTL policy."""
        with self._lock:
            watch, self._watch = self._watch, None
        if watch is not None:
            watch.unsubscribe()
            logger.info("stopped receiving device-control nudges in inbox %s", self.instance)

    def _changed(self, _snapshot, changes, _read_time) -> None:
        # In the order they were written (a snapshot lists documents by id, and auto-ids are random): a device gets
        # its commands in the order they were sent.
        added = sorted((change.document for change in changes if change.type.name == "ADDED"),
                       key=lambda document: document.create_time)
        if not added:
            return
        for document in added:
            nudge = parse_nudge(document.to_dict())
            if nudge is None:
                continue
            try:
                self.on_nudge(nudge)
            except Exception:
                logger.exception("handling a device-control nudge failed")
        # Deleted after handing on, whatever happened: a nudge is a hint (one handled twice is dropped as sent).
        try:
            for start in range(0, len(added), BATCH_SIZE):
                batch = self.db.batch()
                for document in added[start:start + BATCH_SIZE]:
                    batch.delete(document.reference)
                batch.commit(retry=NUDGE_RETRY, timeout=NUDGE_TIMEOUT)
        except Exception as exc:  # the TTL policy deletes them later
            logger.warning("deleting handled nudges from inbox %s failed: %s", self.instance, exc)
