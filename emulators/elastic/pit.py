"""Points in time: ``POST /{index}/_pit``, ``DELETE /_pit`` and a search's ``pit``.

A point in time pins the indices a search runs on (as ES does) and lives for its ``keep_alive``, which each search
naming it may extend. Unlike ES, it does not freeze their documents: a search through it sees writes and deletes
made since it was opened. Readers paging with ``search_after`` over data that does not change in the meantime (an
export of a closed time range) cannot tell the difference; the platform relies on nothing more. As in ES, a search
with a point in time names no index, its hits carry an implicit ``_shard_doc`` tiebreaker as their last sort value,
and points in time do not survive a restart.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time

from .errors import EsError, illegal_argument

_DURATION = re.compile(r"^(\d+)(d|h|m|s|ms|micros|nanos)$")
_UNIT_NS = {"d": 86_400 * 10**9, "h": 3_600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6, "micros": 10**3,
            "nanos": 1}
MAX_KEEP_ALIVE_NS = 24 * 3_600 * 10**9  # ES's search.max_keep_alive default


def parse_keep_alive(text: str | None, name: str = "keep_alive") -> int:
    """A ``keep_alive`` duration (``1m``, ``30s``...) in nanoseconds."""
    if text is None:
        raise EsError(400, "action_request_validation_exception", f"Validation Failed: 1: [{name}] is not specified;")
    match = _DURATION.match(str(text))
    if not match:
        raise EsError(400, "parse_exception", f"failed to parse setting [{name}] with value [{text}] as a time value: "
                                              f"unit is missing or unrecognized")
    ns = int(match.group(1)) * _UNIT_NS[match.group(2)]
    if ns > MAX_KEEP_ALIVE_NS:
        raise illegal_argument(f"Keep alive for request ({text}) is too large. It must be less than (1d). This limit "
                               f"can be set by changing the [search.max_keep_alive] cluster level setting.")
    return ns


def context_missing(pit_id: str) -> EsError:
    root = EsError(404, "search_context_missing_exception", f"No search context found for id [{pit_id[:40]}]")
    return EsError(404, "search_phase_execution_exception", "all shards failed", root_cause=root, phase="query",
                   grouped=True, failed_shards=[{"shard": 0, "index": None, "node": "standin",
                                                 "reason": root.cause_dict()}])


class PointsInTime:
    """Open points in time: id → (index names, expiry on the monotonic clock)."""

    def __init__(self, clock=time.monotonic_ns):
        self._lock = threading.Lock()
        self._open: dict[str, tuple[list[str], int]] = {}
        self._clock = clock

    def open(self, names: list[str], keep_alive_ns: int) -> str:
        pit_id = base64.urlsafe_b64encode(os.urandom(24)).decode()
        with self._lock:
            self._expire()
            self._open[pit_id] = (names, self._clock() + keep_alive_ns)
        return pit_id

    def indices(self, pit_id: str, keep_alive_ns: int | None) -> list[str]:
        """The index names of an open point in time, extending its life by ``keep_alive_ns`` when given."""
        with self._lock:
            self._expire()
            entry = self._open.get(pit_id)
            if entry is None:
                raise context_missing(pit_id)
            if keep_alive_ns is not None:
                self._open[pit_id] = (entry[0], self._clock() + keep_alive_ns)
            return entry[0]

    def close(self, pit_id: str) -> int:
        """Close one point in time; the number freed (0 when unknown or expired)."""
        with self._lock:
            self._expire()
            return 1 if self._open.pop(pit_id, None) is not None else 0

    def _expire(self) -> None:
        now = self._clock()
        for pit_id in [k for k, (_, until) in self._open.items() if until <= now]:
            del self._open[pit_id]
