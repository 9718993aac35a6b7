"""Device presence, coalesced per gateway instance: ``last_seen`` and the open sessions, with bounded writes.

Every authenticated request or accepted message calls ``seen``, which costs no I/O most of the time. A device's
first sighting after a quiet spell (none written for it within ``interval``) is written at once, so a device shows
online as soon as it talks; later sightings wait for the next sweep, which runs on the first sighting after
``interval`` seconds and writes everything pending in one batched commit. So one device costs at most one write per
interval plus the first, and while the instance serves requests its ``last_seen`` lags by at most ``interval``
(``IOT_PRESENCE_INTERVAL``). Nothing runs between requests (Cloud Run gives no CPU then): what is pending when the
instance stops is written by ``close`` (at worker exit).

Sessions (WebSocket or MQTT connections) are written when opened and closed, and refreshed by every sweep; the
gateways that hold them call ``sweep`` on a timer too, since a connected device may stay silent. A session no sweep
refreshed for a few intervals is ignored when read (its instance died; ``infra.usecases.control``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Callable

from infra.domain.control import Sighting
from infra.domain.model import utc_now
from infra.domain.ports import ControlStore

logger = logging.getLogger(__name__)

Submit = Callable[[Callable[[], None]], Any]


class PresenceRecorder:
    """Coalesces the sightings and sessions of one instance into batched presence writes.

    Args:
        submit: runs a write elsewhere (gateway-mqtt: its thread pool, off the event loop); default: inline.
        instance: this instance's id, the prefix of its session keys (default: random).
    """

    def __init__(self, store: ControlStore, interval: float, *, submit: Submit | None = None,
                 instance: str | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = utc_now):
        self.store = store
        self.interval = interval
        self.instance = instance or uuid.uuid4().hex[:12]
        self._submit = submit
        self._clock = clock
        self._wall = wall
        self._pending: dict[str, Sighting] = {}
        self._written: dict[str, float] = {}  # device id → when this instance last wrote it (monotonic)
        self._sessions: dict[str, tuple[str, set[str]]] = {}  # device id → (owner id, open session keys)
        self._last_sweep = clock()
        self._lock = threading.Lock()

    def seen(self, device_id: str, owner_id: str) -> None:
        """Note that the device talked to this instance now."""
        now = self._clock()
        with self._lock:
            self._pending[device_id] = Sighting(owner_id, self._wall())
            if now - self._last_sweep >= self.interval:
                batch = self._take_all(now)
            elif now - self._written.get(device_id, -math.inf) >= self.interval:
                batch = {device_id: self._with_sessions(device_id, self._pending.pop(device_id))}
                self._written[device_id] = now
            else:
                return
        self._write(batch)

    def sweep(self) -> None:
        """Write everything pending and refresh this instance's open sessions now."""
        with self._lock:
            batch = self._take_all(self._clock())
        self._write(batch)

    def tick(self) -> None:
        """Sweep if ``interval`` has passed since the last sweep: a gateway holding connections calls it on a timer,
        so the sessions of silent devices stay fresh."""
        now = self._clock()
        with self._lock:
            if now - self._last_sweep < self.interval:
                return
            batch = self._take_all(now)
        self._write(batch)

    def close(self) -> None:
        """Write everything pending, inline (at worker exit, when a thread pool may be gone)."""
        with self._lock:
            batch = self._take_all(self._clock())
        self._store(batch)

    def opened(self, device_id: str, owner_id: str, session: str, protocol: str) -> None:
        """Record an open session of the device at once (``session``: unique on this instance)."""
        key = f"{self.instance}/{session}"
        with self._lock:
            self._sessions.setdefault(device_id, (owner_id, set()))[1].add(key)
        self.store.open_session(device_id, owner_id, key, protocol, self._wall())

    def closed(self, device_id: str, session: str) -> None:
        """Forget a session of the device at once."""
        key = f"{self.instance}/{session}"
        with self._lock:
            keys = self._sessions.get(device_id, ("", set()))[1]
            keys.discard(key)
            if not keys:
                self._sessions.pop(device_id, None)
        self.store.close_session(device_id, key)

    def _take_all(self, now: float) -> dict[str, Sighting]:
        """Everything pending, and a sighting of each device with open sessions here (refreshing them)."""
        at = self._wall()
        batch = {device_id: self._with_sessions(device_id, sighting) for device_id, sighting in self._pending.items()}
        for device_id, (owner_id, keys) in self._sessions.items():
            batch.setdefault(device_id, Sighting(owner_id, at, tuple(sorted(keys))))
        self._pending.clear()
        self._written = {d: t for d, t in self._written.items() if now - t < self.interval}
        self._written.update(dict.fromkeys(batch, now))
        self._last_sweep = now
        return batch

    def _with_sessions(self, device_id: str, sighting: Sighting) -> Sighting:
        keys = self._sessions.get(device_id, ("", set()))[1]
        return Sighting(sighting.owner_id, sighting.at, tuple(sorted(keys))) if keys else sighting

    def _write(self, batch: dict[str, Sighting]) -> None:
        if not batch:
            return
        if self._submit is None:
            self._store(batch)
        else:
            self._submit(lambda: self._store(batch))

    def _store(self, batch: dict[str, Sighting]) -> None:
        if not batch:
            return
        try:
            self.store.record_seen(batch)
        except Exception as exc:  # presence must never fail a device's request: keep it for the next sweep
            logger.warning("writing device presence failed (%d devices, retried later): %s", len(batch), exc)
            with self._lock:
                for device_id, sighting in batch.items():
                    self._pending.setdefault(device_id, Sighting(sighting.owner_id, sighting.at))
