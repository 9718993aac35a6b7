"""Devices that keep sending and resend what was not acknowledged, as real devices do (the fault tests' load).

Each ``ResendingDevice`` is a thread sending messages of fresh readings from a ``Ledger``, one at a time over one
protocol (the simulator's senders in ``emulators.devices``). A message is resent unchanged, same readings and
timestamps, until a gateway acknowledges it: after an error answer (HTTP 503, a WebSocket error ack), a missing
PUBACK, a dropped or refused connection. After a transport failure it connects again. Only an acknowledgement
enters the ledger.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Callable

import orjson

from emulators.devices import Sender
from tests.support.reconcile import Ledger


class ResendingDevice:
    """One device's sending loop on its own thread; ``failures`` counts what went wrong, by kind."""

    def __init__(self, name: str, connect: Callable[[], Sender], ledger: Ledger, sensor_id: str, *,
                 records: int = 10, messages: int | None = None, interval: float = 0.02, backoff: float = 0.2,
                 max_backoff: float = 1.0):
        self.name = name
        self.failures: Counter[str] = Counter()
        self.acknowledged = 0  # messages
        self._connect = connect
        self._ledger = ledger
        self._sensor_id = sensor_id
        self._records = records
        self._messages = messages
        self._interval = interval
        self._backoff = (backoff, max_backoff)
        self._ack_times: list[float] = []
        self._sender: Sender | None = None
        self._stopping = threading.Event()  # send no new message
        self._abandon = threading.Event()  # stop resending too (the test is over)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "ResendingDevice":
        self._thread.start()
        return self

    def acks_since(self, moment: float) -> int:
        """Messages acknowledged after ``moment`` (``time.monotonic()``)."""
        return sum(1 for at in list(self._ack_times) if at > moment)

    def wait_for_acks(self, count: int, timeout: float = 30.0) -> None:
        """Block until ``count`` messages in all were acknowledged."""
        deadline = time.monotonic() + timeout
        while self.acknowledged < count:
            assert time.monotonic() < deadline, f"{self.name}: {self.acknowledged} of {count} acknowledged"
            time.sleep(0.05)

    def stop(self, timeout: float = 60.0) -> None:
        """Send nothing new, wait until the message in flight was acknowledged, and end the thread."""
        self._stopping.set()
        self.join(timeout)

    def join(self, timeout: float = 60.0) -> None:
        """Wait for the thread to end (after its last message); fail if it could not deliver by then."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join(10)
            raise AssertionError(f"{self.name} could not deliver its last message within {timeout:g}s "
                                 f"(failures: {dict(self.failures)})")

    def _run(self) -> None:
        try:
            sent = 0
            while not self._stopping.is_set() and (self._messages is None or sent < self._messages):
                readings = self._ledger.readings(self._sensor_id, self._records)
                if not self._deliver(readings):
                    return
                sent += 1
                self._stopping.wait(self._interval)
        finally:
            self._disconnect()

    def _deliver(self, readings: list[dict]) -> bool:
        body = orjson.dumps(readings)
        delay = self._backoff[0]
        while not self._abandon.is_set():
            error = self._attempt(body, len(readings))
            if error is None:
                self._ledger.acknowledge(readings)
                self._ack_times.append(time.monotonic())
                self.acknowledged += 1
                return True
            self.failures[error] += 1
            self._abandon.wait(delay)
            delay = min(delay * 2, self._backoff[1])
        return False

    def _attempt(self, body: bytes, count: int) -> str | None:
        """Send once; None when acknowledged, else what went wrong."""
        try:
            if self._sender is None:
                self._sender = self._connect()
            accepted, error = self._sender(body)
        except Exception as exc:  # refused or dropped connection: connect again before resending
            self._disconnect()
            return type(exc).__name__
        if error is None and accepted != count:
            return f"accepted {accepted} of {count}"
        return error

    def _disconnect(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            try:
                getattr(sender, "close", lambda: None)()
            except Exception:  # the connection is already gone
                pass
