"""Devices talk back, the device's side (the gateways): read the desired state, report state, take commands and
answer them, open and close sessions.

Every call takes the authenticated device (anything with ``id`` and ``owner_id``, e.g. the ingestion core's
``DeviceProfile``) and reaches only that device's documents: another device's command is a 404. gateway-http calls
these per request; gateway-ws and gateway-mqtt call the same ones on their connections (``pending_commands`` and
``desired`` on connect, ``deliver`` when the device acknowledged a pushed command, ``answer``, ``report``,
``open_session`` and ``close_session``), so every protocol shares one set of rules (docs/device-control.md).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Protocol

from infra.domain.control import QUEUED, Command, Twin, parse_answer
from infra.domain.errors import ConflictError, NotFoundError
from infra.domain.model import utc_now
from infra.domain.ports import ControlStore

if TYPE_CHECKING:
    from infra.usecases.desired_watch import DesiredWatch
    from infra.usecases.presence import PresenceRecorder

logger = logging.getLogger(__name__)

MAX_POLLED_COMMANDS = 50  # open commands handed to a device per poll (or connect); the soonest to expire first
MAX_WAIT_SECONDS = 30  # the longest long poll of the desired state


class DeviceRef(Protocol):
    """The authenticated device: its id and its owner's."""

    @property
    def id(self) -> str: ...

    @property
    def owner_id(self) -> str: ...


class DeviceControl:
    """What an authenticated device does with its twin and commands, through any gateway."""

    def __init__(self, store: ControlStore, *, watch: DesiredWatch | None = None,
                 presence: PresenceRecorder | None = None, clock: Callable[[], datetime] = utc_now):
        self.store = store
        self.watch = watch
        self.presence = presence
        self.clock = clock

    # ---- the twin ------------------------------------------------------------------------------------------

    def desired(self, device: DeviceRef) -> Twin:
        """The device's twin, for its desired state (version 0 and ``{}`` until the owner sets one)."""
        return self.store.get_twin(device.id) or Twin(device.id, device.owner_id)

    def wait_for_desired(self, device: DeviceRef, known_version: int | None, wait: float) -> Twin:
        """The twin once its desired version differs from ``known_version``, or as it is after ``wait`` seconds
        (at most ``MAX_WAIT_SECONDS``); at once when nothing is known or the version already differs."""
        twin = self.desired(device)
        if known_version is None or twin.desired_version != known_version or wait <= 0 or self.watch is None:
            return twin
        newer = self.watch.wait(device.id, known_version, min(wait, MAX_WAIT_SECONDS))
        return newer or twin

    def report(self, device: DeviceRef, state: Any) -> Twin:
        """Merge the device's report into its reported state (``null`` removes a key): a new reported version.

        Raises:
            BadRequestError, PayloadTooLargeError: not an object, too deep or too large.
        """
        now = self.clock()
        return self.store.update_twin(device.id, device.owner_id, lambda twin: twin.with_reported(state, now))

    # ---- commands ------------------------------------------------------------------------------------------

    def pending_commands(self, device: DeviceRef) -> list[Command]:
        """The device's unexpired, unanswered commands, oldest first (what a connecting device is sent)."""
        return self.store.open_commands(device.id, self.clock(), MAX_POLLED_COMMANDS)

    def poll_commands(self, device: DeviceRef) -> list[Command]:
        """The device's pending commands, the queued ones marked delivered (an HTTP device's poll)."""
        polled = []
        for command in self.pending_commands(device):
            if command.status == QUEUED:
                try:
                    command = self.deliver(device, command.id)
                except (ConflictError, NotFoundError):  # answered, expired or deleted since it was read
                    continue
            polled.append(command)
        return polled

    def deliver(self, device: DeviceRef, command_id: str) -> Command:
        """Mark a command delivered (once the device has it: an HTTP poll, an MQTT PUBACK, a WebSocket ack).

        Raises:
            NotFoundError: not a command of this device.
            ConflictError: 409 ``command_closed`` when it expired or was answered.
        """
        now = self.clock()
        return self._change(device, command_id, lambda command: command.delivered(now))

    def answer(self, device: DeviceRef, command_id: str, body: Any) -> Command:
        """Record the device's answer ``{status: succeeded | failed, result?, error?}``. The same answer sent again
        (a retry after a lost reply) changes nothing and succeeds.

        Raises:
            NotFoundError: not a command of this device.
            BadRequestError, PayloadTooLargeError: a malformed answer.
            ConflictError: 409 ``command_closed`` when it expired or another answer was recorded.
        """
        status, result, error = parse_answer(body)
        now = self.clock()

        def finish(command: Command) -> Command:
            if (command.status, command.result, command.error) == (status, result, error):
                return command
            return command.finished(status, now, result=result, error=error)

        return self._change(device, command_id, finish)

    # ---- sessions ------------------------------------------------------------------------------------------

    def open_session(self, device: DeviceRef, session: str, protocol: str) -> None:
        """Record that the device holds a WebSocket or MQTT connection (``session``: unique on this instance)."""
        if self.presence is not None:
            self.presence.opened(device.id, device.owner_id, session, protocol)

    def close_session(self, device: DeviceRef, session: str) -> None:
        """Record that the connection ``session`` of the device ended."""
        if self.presence is not None:
            self.presence.closed(device.id, session)

    def _change(self, device: DeviceRef, command_id: str, change: Callable[[Command], Command]) -> Command:
        def checked(command: Command) -> Command:
            if command.device_id != device.id:
                raise NotFoundError("no such command")
            return change(command)

        changed = self.store.update_command(command_id, checked)
        if changed is None:
            raise NotFoundError("no such command")
        return changed
