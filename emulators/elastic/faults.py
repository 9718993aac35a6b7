"""Fault injection for tests of clients' retry paths (``/_standin/faults``, outside ES's namespace).

``POST /_standin/faults {"bulk_item_429": N}`` makes the next N bulk items
fail with a per-item 429 ``es_rejected_execution_exception`` without being applied;
``{"reject_requests_503": N}`` makes the next N requests (any endpoint except ``/_standin/*``) answer 503.
Counts add to what is pending. ``GET`` shows what is pending; ``DELETE`` clears it.
"""

from __future__ import annotations

import threading

from .errors import EsError, illegal_argument

KINDS = ("bulk_item_429", "reject_requests_503")


class Faults:
    """Pending injected failures, consumed one by one."""

    def __init__(self):
        self._lock = threading.Lock()
        self.pending = {kind: 0 for kind in KINDS}

    def add(self, body: dict) -> dict:
        if not isinstance(body, dict) or not body:
            raise illegal_argument(f"expected an object with any of {list(KINDS)}")
        for kind, count in body.items():
            if kind not in KINDS:
                raise illegal_argument(f"unknown fault [{kind}]; known: {list(KINDS)}")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise illegal_argument(f"fault [{kind}] needs a non-negative integer count")
        with self._lock:
            for kind, count in body.items():
                self.pending[kind] += count
            return dict(self.pending)

    def clear(self) -> dict:
        with self._lock:
            self.pending = {kind: 0 for kind in KINDS}
            return dict(self.pending)

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self.pending)

    def take(self, kind: str) -> bool:
        """Consume one pending fault of ``kind``; return whether there was one."""
        if not self.pending[kind]:
            return False
        with self._lock:
            if self.pending[kind] > 0:
                self.pending[kind] -= 1
                return True
            return False


def rejected_503() -> EsError:
    return EsError(503, "cluster_block_exception",
                   "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized]; (injected by "
                   "/_standin/faults)")


def rejected_item_429(index: str) -> dict:
    return {"type": "es_rejected_execution_exception",
            "reason": f"rejected execution of primary operation on index [{index}] (injected by /_standin/faults)"}
