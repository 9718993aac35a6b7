"""The one cache of the use cases: a bounded, thread-safe TTL map with single-flight loading.

The revocation cache (key versions of devices and consumers) and the gateways' device directory both sit on it, so
a burst of requests for one cold key costs one backend read, and memory stays bounded (least recently used entries
go first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

MAX_ENTRIES = 100_000


@dataclass
class _Entry:
    value: Any
    fetched_at: float


class _Flight:
    """One lookup in progress; concurrent askers for the same key wait for it instead of repeating it."""

    def __init__(self):
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class TtlCache:
    """A bounded, thread-safe map from key to the result of ``lookup(key)``, refreshed after ``ttl`` seconds.

    Missing objects (``None``) are cached too. Lookup errors are not cached; they reach the caller.
    """

    def __init__(self, lookup: Callable[[str], Any], ttl: float, *, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_ENTRIES):
        self.lookup = lookup
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()

    def get(self, key: str, *, max_age: float | None = None) -> Any:
        """The value for ``key``, fetched anew when the cached one is older than ``max_age`` (default ``ttl``)."""
        limit = self.ttl if max_age is None else min(max_age, self.ttl)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self.clock() - entry.fetched_at < limit:
                self._entries.move_to_end(key)
                return entry.value
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            flight.value = self.lookup(key)
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if flight.error is None:
                    self._entries[key] = _Entry(flight.value, self.clock())
                    self._entries.move_to_end(key)
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
            flight.done.set()
        return flight.value

    def invalidate(self, key: str) -> None:
        """Forget ``key`` so the next ``get`` looks it up."""
        with self._lock:
            self._entries.pop(key, None)
