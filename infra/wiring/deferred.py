"""An object built on its first use, so that a process answers before it imports what only later requests need."""

from __future__ import annotations

import threading
from typing import Any, Callable


class Deferred:
    """Stands for the object ``build()`` returns, building it (once, thread-safely) when an attribute is first read.

    A gateway's first reading needs the Firestore and Pub/Sub clients; its /healthz, and the start of its process, do
    not, and importing their SDKs is most of a gateway's cold start.
    """

    def __init__(self, build: Callable[[], Any]):
        self._build = build
        self._lock = threading.Lock()
        self._target: Any = None

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes Deferred itself lacks: everything of the object it stands for.
        return getattr(self.target, name)

    @property
    def built(self) -> bool:
        """True once the object exists."""
        return self._target is not None

    @property
    def target(self) -> Any:
        """The object, built now if it was not yet."""
        if self._target is None:
            with self._lock:
                if self._target is None:
                    self._target = self._build()
        return self._target
