"""Long polls of the desired state on one gateway instance: every waiting device re-read by one batched read per
tick, by one thread that runs only while someone waits.

Each waiting request holds its serving thread (gunicorn's gthread) until a newer version arrives or its wait ends,
so an instance's long polls count against its concurrency (gateway-http: 64; Cloud Run adds instances beyond).
Cost: one Firestore document read per waiting device per ``interval`` seconds, which is also the most a change
takes to reach a waiting device. ``notify`` wakes the waiters of a twin at once, for a subscriber of the
device-control nudges.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from infra.domain.control import Twin
from infra.domain.ports import ControlStore

logger = logging.getLogger(__name__)

RECHECK_INTERVAL = 2.0  # seconds


@dataclass(eq=False)
class _Waiter:
    known_version: int
    done: threading.Event = field(default_factory=threading.Event)
    twin: Twin | None = None


class DesiredWatch:
    """Waits for devices' desired versions to change."""

    def __init__(self, store: ControlStore, interval: float = RECHECK_INTERVAL):
        self.store = store
        self.interval = interval
        self._waiters: dict[str, list[_Waiter]] = {}
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None

    def wait(self, device_id: str, known_version: int, timeout: float) -> Twin | None:
        """The device's twin once its desired version differs from ``known_version``; None after ``timeout``."""
        waiter = _Waiter(known_version)
        with self._lock:
            self._waiters.setdefault(device_id, []).append(waiter)
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, name="desired-watch", daemon=True)
                self._ticker.start()
        try:
            waiter.done.wait(timeout)
        finally:
            with self._lock:
                waiting = self._waiters.get(device_id, [])
                if waiter in waiting:
                    waiting.remove(waiter)
                if not waiting:
                    self._waiters.pop(device_id, None)
        return waiter.twin

    def notify(self, twin: Twin) -> None:
        """Hand ``twin`` to the waiters of its device whose known version it is not."""
        with self._lock:
            waiting = list(self._waiters.get(twin.device_id, ()))
        for waiter in waiting:
            if twin.desired_version != waiter.known_version:
                waiter.twin = twin
                waiter.done.set()

    @property
    def waiting(self) -> int:
        """How many requests are waiting now."""
        with self._lock:
            return sum(len(waiting) for waiting in self._waiters.values())

    def _tick(self) -> None:
        while True:
            time.sleep(self.interval)  # a waiter read its twin just before it began to wait
            with self._lock:
                device_ids = list(self._waiters)
                if not device_ids:
                    self._ticker = None  # the next waiter starts a new thread
                    return
            try:
                twins = self.store.get_twins(device_ids)
            except Exception:  # a failed read is retried next tick; the waiters time out meanwhile at worst
                logger.warning("re-reading desired states failed", exc_info=True)
                twins = {}
            for twin in twins.values():
                self.notify(twin)
