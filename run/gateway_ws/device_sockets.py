"""How many WebSockets each device holds open on this gateway-ws instance, up to a limit per device."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from infra.domain.errors import RateLimitedError

# A device whose network dropped keeps its old socket here until pings find it dead (two ping intervals).
RETRY_AFTER = 30


class DeviceSockets:
    """Open sockets per device in this process, at most ``limit`` each."""

    def __init__(self, limit: int):
        self.limit = limit
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def held_by(self, device_id: str) -> Iterator[None]:
        """Count one socket of the device while the block runs.

        Raises:
            RateLimitedError: code ``too_many_sockets``, when the device holds ``limit`` already.
        """
        with self._lock:
            held = self._open.get(device_id, 0)
            if held >= self.limit:
                raise RateLimitedError(f"this device holds {held} open sockets on this gateway instance, the most "
                                       "it may; close one first", code="too_many_sockets", retry_after=RETRY_AFTER)
            self._open[device_id] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._open[device_id] - 1
                if left:
                    self._open[device_id] = left
                else:
                    del self._open[device_id]
