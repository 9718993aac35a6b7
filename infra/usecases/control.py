"""Devices talk back, the owner's side (api-devices): device status, the twin's desired state, commands.

Every call takes the signed-in caller and the device id; ownership is ``keyholders.get``'s (another tenant's
device is a 404, admins reach every device). After a new desired state or command is stored, a nudge goes through
the ``ControlBus`` to each gateway instance holding a live session of the device (read from its presence), which
delivers it at once; a device connected nowhere is nudged nowhere. A nudge that cannot be left is logged and not an
error: the device gets what is stored when it polls or connects (docs/device-control.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from infra.domain.claims import DEVICE
from infra.domain.control import (COMMAND_STATUSES, EXPIRED, OPEN_STATUSES, Command, Status, Twin, new_command,
                                  new_command_id)
from infra.domain.errors import BadRequestError, NotFoundError
from infra.domain.model import Device, KeyHolder, Page, PageRequest, User, utc_now
from infra.domain.ports import ControlBus, ControlStore, Repository
from infra.usecases import keyholders
from infra.usecases.filtered_pages import filtered_page

logger = logging.getLogger(__name__)

ONLINE, OFFLINE = "online", "offline"
DEVICE_STATUSES = (ONLINE, OFFLINE)
SESSION_REFRESHES = 3  # a session unrefreshed for this many presence intervals is ignored: its instance died


@dataclass(frozen=True)
class StatusPolicy:
    """When a device counts as online: ``online_window`` after its last message, or while a session is live; a
    session is live while its instance refreshed it within ``session_ttl``."""

    online_window: timedelta
    session_ttl: timedelta

    @classmethod
    def from_seconds(cls, online_window: float, presence_interval: float) -> "StatusPolicy":
        return cls(timedelta(seconds=online_window), timedelta(seconds=SESSION_REFRESHES * presence_interval))


class OwnerControl:
    """What the owner (or an admin) does with a device's status, twin and commands."""

    def __init__(self, repo: Repository, store: ControlStore, bus: ControlBus, policy: StatusPolicy, *,
                 clock: Callable[[], datetime] = utc_now):
        self.repo = repo
        self.store = store
        self.bus = bus
        self.policy = policy
        self.clock = clock

    # ---- status --------------------------------------------------------------------------------------------

    def with_status(self, devices: Sequence[KeyHolder], *, never_seen: bool = False) -> list[dict[str, Any]]:
        """The devices' public forms, each with its ``status`` (one batched read; none when ``never_seen``, for a
        device just created)."""
        now = self.clock()
        statuses = {} if never_seen else self.store.statuses([d.id for d in devices], now - self.policy.session_ttl)
        return [{**device.public(),
                 "status": statuses.get(device.id, Status()).public(now, self.policy.online_window)}
                for device in devices]

    def list_devices(self, caller: User, page: PageRequest, owner_id: str | None = None,
                     status: str | None = None) -> Page[dict[str, Any]]:
        """The caller's devices (an admin's: everyone's, or ``owner_id``'s) with their status, optionally only the
        ``online`` or ``offline`` ones (a filtered page may be short: see ``filtered_pages``).

        Raises:
            BadRequestError: an unknown ``status`` (code ``invalid_query``).
        """
        if status is not None and status not in DEVICE_STATUSES:
            raise BadRequestError(f"status must be one of {', '.join(DEVICE_STATUSES)}", code="invalid_query",
                                  details={"parameter": "status"})

        def fetch(request: PageRequest) -> Page[KeyHolder]:
            return keyholders.list_holders(self.repo, DEVICE, caller, request, owner_id)

        def select(devices: Sequence[KeyHolder]) -> list[dict[str, Any] | None]:
            shown = self.with_status(devices)
            return [item if status is None or item["status"]["online"] == (status == ONLINE) else None
                    for item in shown]

        return filtered_page(fetch, select, page, key=lambda device: device.id)

    # ---- the twin ------------------------------------------------------------------------------------------

    def twin(self, caller: User, device_id: str) -> Twin:
        """The device's twin (empty at version 0 until the owner or the device writes it)."""
        device = self._device(caller, device_id)
        return self.store.get_twin(device.id) or Twin(device.id, device.owner_id)

    def set_desired(self, caller: User, device_id: str, document: Any, expected_version: int | None) -> Twin:
        """Replace the desired state (a new version) and nudge the gateways.

        Raises:
            VersionConflictError: 412 when ``expected_version`` is not the current version.
            BadRequestError, PayloadTooLargeError: the document is not an object, or too deep or large.
        """
        device = self._device(caller, device_id)
        now = self.clock()
        twin = self.store.update_twin(device.id, device.owner_id,
                                      lambda t: t.with_desired(document, now, expected_version=expected_version))
        self._nudge("config", device.id, twin.config())
        return twin

    # ---- commands ------------------------------------------------------------------------------------------

    def send_command(self, caller: User, device_id: str, body: Mapping[str, Any]) -> Command:
        """Queue a command ``{name, payload?, ttl?}`` for the device, then nudge the gateways."""
        device = self._device(caller, device_id)
        now = self.clock()
        command = new_command(new_command_id(now), device.id, device.owner_id, body, now)
        self.store.create_command(command)  # first: a nudge that fails must not lose the command
        self._nudge("command", device.id, {"command": command.for_device()})
        return command

    def list_commands(self, caller: User, device_id: str, page: PageRequest,
                      status: str | None = None) -> Page[Command]:
        """The device's commands newest first, optionally in one lifecycle ``status`` (expiry applied).

        Raises:
            BadRequestError: an unknown ``status`` (code ``invalid_query``).
        """
        if status is not None and status not in COMMAND_STATUSES:
            raise BadRequestError(f"status must be one of {', '.join(COMMAND_STATUSES)}", code="invalid_query",
                                  details={"parameter": "status"})
        device = self._device(caller, device_id)
        now = self.clock()
        # Expiry is read, not stored: an expired command is stored as queued or delivered.
        stored = sorted(OPEN_STATUSES) if status == EXPIRED else [status] if status else None

        def select(commands: Sequence[Command]) -> list[Command | None]:
            current = [command.current(now) for command in commands]
            return [c if status is None or c.status == status else None for c in current]

        return filtered_page(lambda request: self.store.list_commands(device.id, request, stored), select, page,
                             key=lambda command: command.id)

    def shown(self, command: Command) -> dict[str, Any]:
        """The command as the API shows it now (expiry applied)."""
        return command.public(self.clock())

    def get_command(self, caller: User, device_id: str, command_id: str) -> Command:
        """One command of the device, as of now.

        Raises:
            NotFoundError: no such command on a device the caller may see.
        """
        device = self._device(caller, device_id)
        command = self.store.get_command(command_id)
        if command is None or command.device_id != device.id:
            raise NotFoundError("no such command")
        return command.current(self.clock())

    # ---- helpers -------------------------------------------------------------------------------------------

    def _device(self, caller: User, device_id: str) -> Device:
        return keyholders.get(self.repo, DEVICE, caller, device_id)

    def _nudge(self, kind: str, device_id: str, body: Mapping[str, Any]) -> None:
        # Called after the store: a session opened later reads what was stored when it connects, and one opened
        # before is in the presence read here (docs/device-control.md, the race).
        try:
            instances = self.store.live_instances(device_id, self.clock() - self.policy.session_ttl)
            if instances:
                self.bus.nudge(instances, kind, device_id, body)
        except Exception as exc:  # the store is the record: a lost nudge only delays delivery to the next poll
            logger.warning("device-control nudge not left (delivered on poll or connect): %s", exc,
                           extra={"device_id": device_id})
