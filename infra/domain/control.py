"""Devices talk back: the twin (desired and reported state), commands and their lifecycle, and device status.

Pure rules (no I/O); docs/device-control.md has the design they serve. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Mapping

from infra.domain.errors import BadRequestError, ConflictError, PayloadTooLargeError
from infra.domain.model import iso as _iso

TWIN_MAX_BYTES = 8 * 1024
TWIN_MAX_DEPTH = 6
COMMAND_MAX_BYTES = 16 * 1024
COMMAND_DEFAULT_TTL = 300
COMMAND_MAX_TTL = 86_400
COMMAND_RETENTION = timedelta(days=30)  # a command is kept this long after it expires (its lifecycle stays visible)
COMMAND_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")

QUEUED, DELIVERED, SUCCEEDED, FAILED, EXPIRED = "queued", "delivered", "succeeded", "failed", "expired"
COMMAND_STATUSES = (QUEUED, DELIVERED, SUCCEEDED, FAILED, EXPIRED)
OPEN_STATUSES = frozenset((QUEUED, DELIVERED))
RESULT_STATUSES = frozenset((SUCCEEDED, FAILED))
_INVERT_NS = 2**64  # command ids start with 2**64 - 1 - creation time in ns (16 hex digits until the year 2554)


# ---- JSON documents -------------------------------------------------------------------------------------------

def check_document(value: Any, what: str, *, max_bytes: int, max_depth: int = TWIN_MAX_DEPTH,
                   require_object: bool = True) -> Any:
    """Refuse a JSON value that is not an object (when ``require_object``), too large or too deep; return it.

    Raises:
        BadRequestError: not an object, or nested deeper than ``max_depth``.
        PayloadTooLargeError: its JSON exceeds ``max_bytes``.
    """
    if require_object and not isinstance(value, dict):
        raise BadRequestError(f"{what} must be a JSON object", details={"field": what})
    if _depth(value) > max_depth:
        raise BadRequestError(f"{what} nests deeper than {max_depth} levels", details={"field": what})
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_bytes:
        raise PayloadTooLargeError(f"{what} is {size} bytes; at most {max_bytes}")
    return value


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def merge_patch(document: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with ``patch`` applied as a JSON merge patch (RFC 7386): ``null`` removes a key."""
    merged = dict(document)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = _without_nulls(value)
    return merged


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def delta(desired: Mapping[str, Any], reported: Mapping[str, Any]) -> dict[str, Any]:
    """The desired keys whose value differs from the reported one (recursively into objects)."""
    out: dict[str, Any] = {}
    for key, want in desired.items():
        have = reported.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            nested = delta(want, have)
            if nested:
                out[key] = nested
        elif want != have:
            out[key] = want
    return out


# ---- the twin -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Twin:
    """A device's desired state (the owner's) and reported state (the device's), each versioned."""

    device_id: str
    owner_id: str
    desired: dict[str, Any] = field(default_factory=dict)
    desired_version: int = 0
    desired_at: datetime | None = None
    reported: dict[str, Any] = field(default_factory=dict)
    reported_version: int = 0
    reported_at: datetime | None = None

    def with_desired(self, desired: Mapping[str, Any], now: datetime, *, expected_version: int | None = None
                     ) -> "Twin":
        """Replace the desired document (a new version).

        Raises:
            ConflictError: 412 ``version_conflict`` when ``expected_version`` is not the current version.
        """
        if expected_version is not None and expected_version != self.desired_version:
            raise VersionConflictError(f"desired is at version {self.desired_version}, not {expected_version}")
        document = _without_nulls(check_document(desired, "desired", max_bytes=TWIN_MAX_BYTES))
        return replace(self, desired=document, desired_version=self.desired_version + 1, desired_at=now)

    def with_reported(self, patch: Mapping[str, Any], now: datetime) -> "Twin":
        """Merge a device's report into the reported document (``null`` removes a key); a new version."""
        check_document(patch, "state", max_bytes=TWIN_MAX_BYTES)
        merged = check_document(merge_patch(self.reported, patch), "reported", max_bytes=TWIN_MAX_BYTES)
        return replace(self, reported=merged, reported_version=self.reported_version + 1, reported_at=now)

    def public(self) -> dict[str, Any]:
        """The twin as the API shows it, with the delta."""
        return {"device_id": self.device_id, "desired": self.desired, "desired_version": self.desired_version,
                "desired_at": _iso(self.desired_at), "reported": self.reported,
                "reported_version": self.reported_version, "reported_at": _iso(self.reported_at),
                "delta": delta(self.desired, self.reported)}

    def config(self) -> dict[str, Any]:
        """What a device receives of its desired state."""
        return {"version": self.desired_version, "desired": self.desired}


class VersionConflictError(ConflictError):
    """A conditional update named a version that is no longer current (412)."""

    status, code = 412, "version_conflict"


# ---- commands -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """A command sent to one device, and where it is in its lifecycle."""

    id: str
    device_id: str
    owner_id: str
    name: str
    payload: Any
    created_at: datetime
    expires_at: datetime
    status: str = QUEUED
    delivered_at: datetime | None = None
    finished_at: datetime | None = None
    result: Any = None
    error: str | None = None

    def current(self, now: datetime) -> "Command":
        """The command as of ``now``: an open one past its expiry reads as ``expired``."""
        if self.status in OPEN_STATUSES and now > self.expires_at:
            return replace(self, status=EXPIRED, finished_at=self.expires_at)
        return self

    def delivered(self, now: datetime) -> "Command":
        """Mark it delivered to the device (idempotent while delivered).

        Raises:
            ConflictError: 409 ``command_closed`` when it is expired, succeeded or failed.
        """
        command = self.current(now)
        if command.status == DELIVERED:
            return command
        if command.status != QUEUED:
            raise ConflictError(f"command {self.id} is {command.status}", code="command_closed")
        return replace(command, status=DELIVERED, delivered_at=now)

    def finished(self, status: str, now: datetime, *, result: Any = None, error: str | None = None) -> "Command":
        """Record the device's answer: ``succeeded`` (with an optional result) or ``failed`` (with an error).

        Raises:
            BadRequestError: an unknown status, or a result too large.
            ConflictError: 409 ``command_closed`` when it already finished or expired.
        """
        if status not in RESULT_STATUSES:
            raise BadRequestError(f"status must be one of {', '.join(sorted(RESULT_STATUSES))}",
                                  details={"field": "status"})
        if result is not None:
            check_document(result, "result", max_bytes=COMMAND_MAX_BYTES, require_object=False)
        if error is not None and (not isinstance(error, str) or len(error) > 1024):
            raise BadRequestError("error must be a string of at most 1024 characters", details={"field": "error"})
        command = self.current(now)
        if command.status not in OPEN_STATUSES:
            raise ConflictError(f"command {self.id} is {command.status}", code="command_closed")
        return replace(command, status=status, delivered_at=command.delivered_at or now, finished_at=now,
                       result=result, error=error)

    def for_device(self) -> dict[str, Any]:
        """What the device receives."""
        return {"id": self.id, "name": self.name, "payload": self.payload, "expires_at": _iso(self.expires_at)}

    def public(self, now: datetime) -> dict[str, Any]:
        """The command as the API shows it (expiry applied)."""
        command = self.current(now)
        return {"id": command.id, "device_id": command.device_id, "name": command.name, "payload": command.payload,
                "status": command.status, "created_at": _iso(command.created_at),
                "expires_at": _iso(command.expires_at), "delivered_at": _iso(command.delivered_at),
                "finished_at": _iso(command.finished_at), "result": command.result, "error": command.error}


def sent_command_expired(sent: Mapping[str, Any], now: datetime) -> bool:
    """Whether a command as the device receives it (``Command.for_device()``, e.g. from a nudge) has expired."""
    try:
        return datetime.fromisoformat(sent["expires_at"]) <= now
    except (KeyError, TypeError, ValueError):
        return False


def new_command_id(now: datetime) -> str:
    """A fresh command id: an inverted creation time, so id order is newest first, then random hex."""
    ns = int(now.timestamp()) * 10**9 + now.microsecond * 1000
    return f"{_INVERT_NS - 1 - ns:016x}{secrets.token_hex(4)}"


def new_command(command_id: str, device_id: str, owner_id: str, body: Mapping[str, Any], now: datetime) -> Command:
    """A queued command from an API request body ``{name, payload?, ttl?}``.

    Raises:
        BadRequestError: an unknown field, a bad name or ttl; PayloadTooLargeError: the payload is too large.
    """
    unknown = set(body) - {"name", "payload", "ttl"}
    if unknown:
        field_name = sorted(unknown)[0]
        raise BadRequestError(f"unknown field {field_name!r}", code="unknown_field", details={"field": field_name})
    name = body.get("name")
    if not isinstance(name, str) or not COMMAND_NAME.fullmatch(name):
        raise BadRequestError("name must be 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter or "
                              "digit", details={"field": "name"})
    ttl = body.get("ttl", COMMAND_DEFAULT_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= COMMAND_MAX_TTL:
        raise BadRequestError(f"ttl must be whole seconds from 1 to {COMMAND_MAX_TTL}", details={"field": "ttl"})
    payload = body.get("payload")
    check_document(payload, "payload", max_bytes=COMMAND_MAX_BYTES, require_object=False)
    return Command(command_id, device_id, owner_id, name, payload, now, now + timedelta(seconds=ttl))


def parse_answer(body: Any) -> tuple[str, Any, str | None]:
    """``(status, result, error)`` of a device's answer ``{status: succeeded | failed, result?, error?}``; the values
    are checked by ``Command.finished``.

    Raises:
        BadRequestError: not an object, or an unknown field.
    """
    if not isinstance(body, Mapping):
        raise BadRequestError("the answer must be a JSON object")
    unknown = set(body) - {"status", "result", "error"}
    if unknown:
        field_name = sorted(unknown)[0]
        raise BadRequestError(f"unknown field {field_name!r}", code="unknown_field", details={"field": field_name})
    return body.get("status"), body.get("result"), body.get("error")


# ---- versions as HTTP entity tags -------------------------------------------------------------------------------

def etag(version: int) -> str:
    """The entity tag of a twin document's version."""
    return f'"{version}"'


def parse_etag(value: str | None, header: str) -> int | None:
    """The version an ``If-Match`` or ``If-None-Match`` header names (``"3"``, ``W/"3"`` or ``3``); None when the
    header is absent or ``*``.

    Raises:
        BadRequestError: anything else (code ``invalid_header``).
    """
    if value is None or value.strip() in ("", "*"):
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequestError(f'{header} must name one version, e.g. "3"', code="invalid_header",
                              details={"header": header})
    return int(raw)


# ---- status ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Status:
    """Whether a device is online: connected now (WebSocket/MQTT sessions), or seen lately."""

    last_seen: datetime | None = None
    protocols: tuple[str, ...] = ()
    connected_since: datetime | None = None

    @property
    def connected(self) -> bool:
        return bool(self.protocols)

    def online(self, now: datetime, window: timedelta) -> bool:
        """Connected, or seen within ``window``."""
        return self.connected or (self.last_seen is not None and now - self.last_seen <= window)

    def public(self, now: datetime, window: timedelta) -> dict[str, Any]:
        return {"online": self.online(now, window), "connected": self.connected, "protocols": list(self.protocols),
                "connected_since": _iso(self.connected_since), "last_seen": _iso(self.last_seen)}


@dataclass(frozen=True)
class Sighting:
    """A device seen by one gateway instance: its owner, when, and the sessions it holds open there (kept alive)."""

    owner_id: str
    at: datetime
    sessions: tuple[str, ...] = ()


def session_status(last_seen: datetime | None, sessions: Mapping[str, Mapping[str, Any]],
                   live_since: datetime) -> Status:
    """A device's status from its presence: ``sessions`` maps ``<instance>/<session>`` to ``{protocol, since,
    seen}``. A session not refreshed since ``live_since`` is ignored: its instance died without closing it."""
    live = [entry for entry in sessions.values() if _live(entry, live_since)]
    return Status(last_seen=last_seen, protocols=tuple(sorted({entry["protocol"] for entry in live})),
                  connected_since=min((entry["since"] for entry in live), default=None))


def live_instances(sessions: Mapping[str, Mapping[str, Any]], live_since: datetime) -> set[str]:
    """The gateway instances holding a live session in ``sessions`` (keys ``<instance>/<session>``, as in
    ``session_status``): those a nudge for the device must reach."""
    return {key.split("/", 1)[0] for key, entry in sessions.items() if "/" in key and _live(entry, live_since)}


def _live(entry: Any, live_since: datetime) -> bool:
    return (isinstance(entry, Mapping) and bool(entry.get("protocol")) and bool(entry.get("since"))
            and (entry.get("seen") or entry["since"]) >= live_since)
