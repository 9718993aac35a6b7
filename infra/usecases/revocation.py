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

import time
from typing import Callable

from infra.domain.model import Consumer, Device
from infra.usecases.caches import TtlCache
from infra.domain.claims import CONSUMER, DEVICE, Claims

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
