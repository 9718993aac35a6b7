"""How api-devices shows devices: every reply carries the device's ``status``, and the list filters by it."""

from __future__ import annotations

from typing import Any, Mapping

from infra.domain.claims import DEVICE
from infra.domain.model import KeyHolder, PageRequest, User
from infra.wiring import wiring_of
from run.keyholder_routes import HolderReplies


class DeviceReplies(HolderReplies):
    """Devices with their status (``?status=online|offline`` on the list)."""

    def __init__(self):
        super().__init__(DEVICE)

    def listing(self, user: User, page: PageRequest, args: Mapping[str, str]) -> dict[str, Any]:
        listed = wiring_of().control.list_devices(user, page, args.get("owner_id"), args.get("status") or None)
        return {"items": listed.items, "next_cursor": listed.next_cursor}

    def one(self, holder: KeyHolder, *, created: bool = False) -> dict[str, Any]:
        return wiring_of().control.with_status([holder], never_seen=created)[0]
