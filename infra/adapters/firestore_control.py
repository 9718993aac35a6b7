"""Twins, commands and device presence: the ``ControlStore`` port (``infra.domain.ports``) on Firestore.

Three top-level collections of the device-control database (``IOT_CONTROL_DATABASE``, ``iot-control``), which the
gateways may write while they only read ``(default)`` (docs/device-control.md):

- ``twins/{device_id}``: ``{owner_id, device_id, desired, desired_version, desired_at, reported, reported_version,
  reported_at}``;
- ``commands/{command_id}``: the command's fields, and ``purge_at``, when a Firestore TTL policy deletes it
  (``COMMAND_RETENTION`` after its expiry). Command ids sort newest first, so a device's commands list in id order
  on Firestore's automatic single-field indexes; only ``open_commands`` needs a composite index (terraform);
- ``presence/{device_id}``: ``{owner_id, device_id, last_seen, sessions: {<instance>/<session>: {protocol, since,
  seen}}}``; its live sessions name the gateway instances whose inboxes get the device's nudges
  (``infra.adapters.firestore_inbox``, the fourth collection there).

The JSON documents (desired, reported, a command's payload and result) are stored as JSON text: a device may use
keys Firestore refuses as field names (``""``, ``__x__``), and nothing queries inside them. Every document carries
``owner_id`` and ``device_id``, so deleting a device or an owner deletes them too (``infra.adapters.firestore``, which
says in what order).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

import orjson
from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from infra.adapters.firestore_pages import id_ordered_page
from infra.domain.control import (COMMAND_RETENTION, OPEN_STATUSES, Command, Sighting, Status, Twin,
                                  live_instances, session_status)
from infra.domain.model import Page, PageRequest, valid_id

TWINS, COMMANDS, PRESENCE = "twins", "commands", "presence"
COMMAND_EXPIRY_FIELD = "purge_at"  # a Firestore TTL policy on it (terraform/project.tf) deletes old commands
# The fields of open_commands' composite index, in order (terraform/project.tf declares it).
OPEN_COMMANDS_INDEX = ("device_id", "status", "expires_at")
BATCH_SIZE = 400  # Firestore allows 500 writes per commit
_JSON_FIELDS = ("payload", "result")


class FirestoreControl:
    """The ``ControlStore`` on Firestore (the emulator locally). Thread-safe: the client is, and nothing else is
    kept."""

    def __init__(self, client: firestore.Client):
        self.db = client

    # ---- twins ---------------------------------------------------------------------------------------------

    def get_twin(self, device_id: str) -> Twin | None:
        """The stored twin of a device."""
        if not valid_id(device_id):
            return None
        snapshot = self.db.collection(TWINS).document(device_id).get()
        return _twin(snapshot) if snapshot.exists else None

    def get_twins(self, device_ids: Sequence[str]) -> dict[str, Twin]:
        """The stored twins of ``device_ids`` in one batched read."""
        refs = [self.db.collection(TWINS).document(i) for i in dict.fromkeys(device_ids) if valid_id(i)]
        return {s.id: _twin(s) for s in (self.db.get_all(refs) if refs else ()) if s.exists}

    def update_twin(self, device_id: str, owner_id: str, change: Callable[[Twin], Twin]) -> Twin:
        """Apply ``change`` to the stored twin (or an empty one) in a transaction; ``change`` may raise."""
        if not valid_id(device_id):
            raise ValueError(f"not a device id: {device_id!r}")
        ref = self.db.collection(TWINS).document(device_id)

        @firestore.transactional
        def update(transaction) -> Twin:
            snapshot = ref.get(transaction=transaction)
            twin = change(_twin(snapshot) if snapshot.exists else Twin(device_id, owner_id))
            transaction.set(ref, _twin_record(twin))
            return twin

        return update(self.db.transaction())

    # ---- commands ------------------------------------------------------------------------------------------

    def create_command(self, command: Command) -> None:
        """Store a new command (its id is fresh: a clash raises Firestore's AlreadyExists)."""
        self.db.collection(COMMANDS).document(command.id).create(_command_record(command))

    def get_command(self, command_id: str) -> Command | None:
        """The command with this id."""
        if not valid_id(command_id):
            return None
        snapshot = self.db.collection(COMMANDS).document(command_id).get()
        return _command(snapshot) if snapshot.exists else None

    def update_command(self, command_id: str, change: Callable[[Command], Command]) -> Command | None:
        """Apply ``change`` to a command in a transaction; None when there is none."""
        if not valid_id(command_id):
            return None
        ref = self.db.collection(COMMANDS).document(command_id)

        @firestore.transactional
        def update(transaction) -> Command | None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return None
            command = change(_command(snapshot))
            transaction.set(ref, _command_record(command))
            return command

        return update(self.db.transaction())

    def list_commands(self, device_id: str, page: PageRequest,
                      statuses: Sequence[str] | None = None) -> Page[Command]:
        """A device's commands newest first, optionally of some stored statuses, a page at a time."""
        if not valid_id(device_id):
            return Page([])
        query = self.db.collection(COMMANDS).where(filter=FieldFilter("device_id", "==", device_id))
        if statuses:
            query = query.where(filter=FieldFilter("status", "in", list(statuses)))
        return id_ordered_page(self.db, COMMANDS, query, page, _command)

    def open_commands(self, device_id: str, now: datetime, limit: int) -> list[Command]:
        """Queued and delivered commands of a device that expire after ``now``, oldest first."""
        if not valid_id(device_id):
            return []
        # Composite index OPEN_COMMANDS_INDEX. Commands that expired unanswered keep their stored status forever,
        # so the range filter is what keeps them out of a device's poll.
        query = (self.db.collection(COMMANDS).where(filter=FieldFilter("device_id", "==", device_id))
                 .where(filter=FieldFilter("status", "in", sorted(OPEN_STATUSES)))
                 .where(filter=FieldFilter("expires_at", ">", now)).order_by("expires_at").limit(limit))
        return sorted((_command(s) for s in query.stream()), key=lambda c: (c.created_at, c.id))

    # ---- presence ------------------------------------------------------------------------------------------

    def statuses(self, device_ids: Sequence[str], live_since: datetime) -> dict[str, Status]:
        """Each device's status from its presence document, in one batched read."""
        ids = [i for i in dict.fromkeys(device_ids) if valid_id(i)]
        found = {s.id: s.to_dict() for s in (self.db.get_all([self._presence(i) for i in ids]) if ids else ())
                 if s.exists}
        return {i: session_status(found[i].get("last_seen"), found[i].get("sessions") or {}, live_since)
                if i in found else Status() for i in ids}

    def record_seen(self, seen: Mapping[str, Sighting]) -> None:
        """Write each device's ``last_seen`` and refresh the sessions its sighting names, in batched commits.

        Merged writes, no transaction: two instances may write out of order, which moves ``last_seen`` back by at
        most one presence interval (the documented staleness).
        """
        items = [(device_id, sighting) for device_id, sighting in seen.items() if valid_id(device_id)]
        for start in range(0, len(items), BATCH_SIZE):
            batch = self.db.batch()
            for device_id, sighting in items[start:start + BATCH_SIZE]:
                record: dict[str, Any] = {"owner_id": sighting.owner_id, "device_id": device_id,
                                          "last_seen": sighting.at}
                if sighting.sessions:
                    record["sessions"] = {session: {"seen": sighting.at} for session in sighting.sessions}
                batch.set(self._presence(device_id), record, merge=True)
            batch.commit()

    def live_instances(self, device_id: str, live_since: datetime) -> set[str]:
        """The instances holding a live session of the device, from its presence document."""
        if not valid_id(device_id):
            return set()
        record = self._presence(device_id).get().to_dict() or {}  # None when there is no such document
        return live_instances(record.get("sessions") or {}, live_since)

    def open_session(self, device_id: str, owner_id: str, session: str, protocol: str, now: datetime) -> None:
        """Record an open session (``<instance>/<session id>``) of the device; the device is seen now."""
        self._presence(device_id).set(
            {"owner_id": owner_id, "device_id": device_id, "last_seen": now,
             "sessions": {session: {"protocol": protocol, "since": now, "seen": now}}}, merge=True)

    def close_session(self, device_id: str, session: str) -> None:
        """Forget a session of the device (nothing happens when there is none)."""
        if not valid_id(device_id):
            return
        ref = self._presence(device_id)
        try:
            ref.update({FieldPath("sessions", session).to_api_repr(): firestore.DELETE_FIELD})
        except google_errors.NotFound:  # no presence document: nothing to close
            pass

    def _presence(self, device_id: str):
        return self.db.collection(PRESENCE).document(device_id)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _twin_record(twin: Twin) -> dict[str, Any]:
    return {"owner_id": twin.owner_id, "device_id": twin.device_id, "desired": _json(twin.desired),
            "desired_version": twin.desired_version, "desired_at": twin.desired_at, "reported": _json(twin.reported),
            "reported_version": twin.reported_version, "reported_at": twin.reported_at}


def _twin(snapshot) -> Twin:
    data = snapshot.to_dict()
    return Twin(device_id=snapshot.id, owner_id=data["owner_id"], desired=orjson.loads(data["desired"]),
                desired_version=data["desired_version"], desired_at=data.get("desired_at"),
                reported=orjson.loads(data["reported"]), reported_version=data["reported_version"],
                reported_at=data.get("reported_at"))


def _command_record(command: Command) -> dict[str, Any]:
    record = dict(vars(command))
    del record["id"]
    for name in _JSON_FIELDS:
        record[name] = _json(record[name])
    record[COMMAND_EXPIRY_FIELD] = command.expires_at + COMMAND_RETENTION
    return record


def _command(snapshot) -> Command:
    data = snapshot.to_dict()
    data.pop(COMMAND_EXPIRY_FIELD, None)
    for name in _JSON_FIELDS:
        data[name] = orjson.loads(data[name])
    return Command(id=snapshot.id, **data)
