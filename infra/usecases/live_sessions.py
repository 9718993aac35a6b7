"""The devices' open connections on this gateway instance, and the nudges routed to them.

A WebSocket or MQTT session registers a listener for its device (``attach``) before it reads the device's pending
commands and desired state, so that nothing sent in between is missed (a command read and nudged both is sent once:
the sessions drop ids they sent). Nudges arrive on the inbox listener's thread (``dispatch``); a device with no
session here is simply not nudged. ``ensure_listening`` starts the listener on this instance's inbox the first time a
device connects, so an instance that never holds a connection never listens, and no start-up waits for Firestore.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol

logger = logging.getLogger(__name__)

RETRY_INTERVAL = 30.0  # seconds after a failed start before a connection tries (and waits for) it again


class NudgeLike(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def device_id(self) -> str: ...

    @property
    def body(self) -> dict[str, Any]: ...


Listener = Callable[[NudgeLike], None]


class Subscription(Protocol):
    """Where nudges come from (``infra.adapters.firestore_inbox.InboxListener``)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LiveSessions:
    """Listeners per device on this instance, fed by one inbox listener started on first use.

    Args:
        subscription: builds the inbox listener, given the callback to feed (None: nudges only through ``dispatch``).
    """

    def __init__(self, subscription: Callable[[Listener], Subscription] | None = None, *,
                 clock: Callable[[], float] = time.monotonic):
        self._make_subscription = subscription
        self._clock = clock
        self._retry_at = -float("inf")
        self._subscription: Subscription | None = None
        self._listeners: dict[str, set[Listener]] = {}
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()

    def ensure_listening(self) -> None:
        """Start the inbox listener unless it runs; a failure is logged (devices still get what is stored when
        they connect) and tried again by a caller ``RETRY_INTERVAL`` seconds later."""
        if self._subscription is not None or self._make_subscription is None or self._clock() < self._retry_at:
            return
        with self._start_lock:
            if self._subscription is not None or self._clock() < self._retry_at:
                return
            subscription = self._make_subscription(self.dispatch)
            try:
                subscription.start()
            except Exception as exc:
                self._retry_at = self._clock() + RETRY_INTERVAL
                logger.warning("could not listen to device-control nudges (commands reach devices on connect "
                               "only): %s", exc)
                return
            self._subscription = subscription

    def attach(self, device_id: str, listener: Listener) -> None:
        """Send the device's nudges to ``listener`` until ``detach``."""
        with self._lock:
            self._listeners.setdefault(device_id, set()).add(listener)

    def detach(self, device_id: str, listener: Listener) -> None:
        """Stop sending the device's nudges to ``listener``."""
        with self._lock:
            listeners = self._listeners.get(device_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[device_id]

    def dispatch(self, nudge: NudgeLike) -> int:
        """Hand a nudge to the listeners of its device here; return how many there were."""
        with self._lock:
            listeners = list(self._listeners.get(nudge.device_id, ()))
        for listener in listeners:
            try:
                listener(nudge)
            except Exception:  # one broken session must not keep the nudge from the others
                logger.exception("delivering a nudge to a session of device %s failed", nudge.device_id)
        return len(listeners)

    def stop(self) -> None:
        """Stop the inbox listener (at process exit)."""
        with self._start_lock:
            subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.stop()
