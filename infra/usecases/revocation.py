"""Is a device or consumer token still current? A thread-safe cache of key versions, at most ``ttl`` seconds old.

Device and consumer tokens carry the key version (``ver``) of their device or consumer; rotating the key bumps
the stored version, and deleting the object removes it. A verifier asks this cache instead of Firestore on every
request, so a revoked token keeps working for at most ``settings.revocation_cache_ttl`` seconds (60 by default)
in a process that had looked it up just before. A token newer than the cached version triggers a fresh lookup
at once, so a just-rotated key works immediately.

Usage (a gateway)::

    cache = RevocationCache.from_settings(FirestoreRepository(client), settings)
    claims = verifier.verify(token, DEVICE)
    device = cache.current_device(claims)   # None: revoked or deleted
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from infra.domain.model import Consumer, Device
from infra.domain.claims import CONSUMER, DEVICE, Claims

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


class RevocationCache:
    """Answer "is key version V still current for device/consumer X" from a TTL cache over the repository."""

    def __init__(self, repository, ttl: float, *, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._caches = {DEVICE: TtlCache(repository.get_device, ttl, clock=clock),
                        CONSUMER: TtlCache(repository.get_consumer, ttl, clock=clock)}

    @classmethod
    def from_settings(cls, repository, settings) -> "RevocationCache":
        """A cache whose entries live ``settings.revocation_cache_ttl`` seconds."""
        return cls(repository, settings.revocation_cache_ttl)

    def lookup(self, audience: str, subject_id: str, version: int, *, fresh: bool = False) -> Device | Consumer | None:
        """The device or consumer ``subject_id`` when ``version`` is its current key version, else None.

        Args:
            audience: ``device`` or ``consumer`` (the token's audience).
            fresh: bypass the cache (the management API checks this way).
        """
        cache = self._caches[audience]
        current = cache.get(subject_id, max_age=0 if fresh else None)
        if current is not None and version > current.key_version and not fresh:
            # The token is newer than what we cached: the key was rotated since; look again now.
            current = cache.get(subject_id, max_age=0)
        if current is None or current.key_version != version:
            return None
        return current

    def is_current(self, audience: str, subject_id: str, version: int, *, fresh: bool = False) -> bool:
        """True when ``version`` is the current key version of the device or consumer ``subject_id``."""
        return self.lookup(audience, subject_id, version, fresh=fresh) is not None

    def current(self, audience: str, claims: Claims, *, fresh: bool = False) -> Device | Consumer | None:
        """The device or consumer of verified ``claims`` if they are of ``audience`` and carry its current key
        version, else None."""
        if claims.audience != audience or claims.version is None:
            return None
        return self.lookup(audience, claims.subject, claims.version, fresh=fresh)

    def current_device(self, claims: Claims, *, fresh: bool = False) -> Device | None:
        """The device of verified device-token ``claims`` if its key version is current, else None."""
        return self.current(DEVICE, claims, fresh=fresh)

    def current_consumer(self, claims: Claims, *, fresh: bool = False) -> Consumer | None:
        """The consumer of verified consumer-token ``claims`` if its key version is current, else None."""
        return self.current(CONSUMER, claims, fresh=fresh)

    def invalidate(self, audience: str, subject_id: str) -> None:
        """Forget what is cached for one device or consumer (after rotating or deleting it in this process)."""
        self._caches[audience].invalidate(subject_id)
