"""What Cloud Scheduler does in the cloud, for ``make dev``: call the pipeline's data lifecycle ticks.

terraform/lifecycle.tf schedules ``POST /ticks/deletions`` every minute and ``POST /ticks/retention`` daily; the
local stack calls both every ``INTERVAL`` seconds (both are idempotent), and logs what they did.
"""

from __future__ import annotations

import logging
import time

import requests

logger = logging.getLogger(__name__)

INTERVAL = 30.0
TICKS = ("deletions", "retention")


class Ticker:
    """Call the ticks of the pipeline at ``base_url`` when ``due`` (from the stack's main loop)."""

    def __init__(self, base_url: str, interval: float = INTERVAL, clock=time.monotonic):
        self.base_url = base_url
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        return self._last is None or self._clock() - self._last >= self.interval

    def tick(self) -> dict[str, object]:
        """Call every tick once; their replies (or the error) by name. Failures are logged, never raised."""
        self._last = self._clock()
        results: dict[str, object] = {}
        for name in TICKS:
            try:
                reply = requests.post(f"{self.base_url}/ticks/{name}", timeout=60)
                reply.raise_for_status()
                results[name] = reply.json()
            except (requests.RequestException, ValueError) as exc:
                logger.warning("the %s tick failed: %s", name, exc)
                results[name] = exc
        return results
