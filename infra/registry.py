"""Devices, their sensors and sensor tree, and device keys: the use-cases of api-devices.

Every call takes the signed-in caller. Objects of another owner are reported as missing (404), so their
existence does not leak; admins see and manage everything. Creating a sensor is one Firestore transaction:
no per-sensor topic, index or job (what made the original collapse under a sensor-creation burst).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from infra.errors import NotFoundError
from infra.model import (DEVICE_CREATE, DEVICE_PATCH, SENSOR_CREATE, SENSOR_PATCH, Device, Page, PageRequest, Sensor,
                         User, can_access, new_id, sensor_tree, utc_now)
from infra.repository import Repository
from infra.tokens import DEVICE, TokenIssuer


@dataclass(frozen=True)
class DeviceKey:
    """A device token for the current key version."""

    device_id: str
    key_version: int
    token: str

    def public(self) -> dict:
        """The key reply (the original's ``{token, device_id}`` plus the version)."""
        return {"token": self.token, "device_id": self.device_id, "key_version": self.key_version}


def register_device(repo: Repository, caller: User, body: dict[str, Any]) -> Device:
    """Create a device owned by the caller."""
    fields = DEVICE_CREATE.parse(body)
    now = utc_now()
    device = Device(id=new_id(), owner_id=caller.id, name=fields["name"], description=fields["description"],
                    key_version=1, created_at=now, updated_at=now)
    repo.create_device(device)
    return device


def list_devices(repo: Repository, caller: User, page: PageRequest, owner_id: str | None = None) -> Page[Device]:
    """The caller's devices; an admin gets everyone's (or one owner's with ``owner_id``)."""
    if not caller.is_admin:
        owner_id = caller.id
    return repo.list_devices(owner_id, page)


def get_device(repo: Repository, caller: User, device_id: str) -> Device:
    """A device the caller may see.

    Raises:
        NotFoundError: no such device, or another owner's.
    """
    device = repo.get_device(device_id)
    if device is None or not can_access(caller, device.owner_id):
        raise NotFoundError("no such device")
    return device


def update_device(repo: Repository, caller: User, device_id: str, body: dict[str, Any]) -> Device:
    """Change a device's name or description (nothing else may change)."""
    device = get_device(repo, caller, device_id)
    fields = DEVICE_PATCH.parse(body)
    if not fields:
        return device
    fields["updated_at"] = utc_now()
    if not repo.update_device(device.id, fields):
        raise NotFoundError("no such device")
    return replace(device, **fields)


def delete_device(repo: Repository, caller: User, device_id: str) -> None:
    """Delete a device with its sensors and their grants; its tokens stop working."""
    device = get_device(repo, caller, device_id)
    if not repo.delete_device(device.id):
        raise NotFoundError("no such device")


def device_key(repo: Repository, issuer: TokenIssuer, caller: User, device_id: str) -> DeviceKey:
    """A device token for the device's current key version (read fresh, not from a cache)."""
    device = get_device(repo, caller, device_id)
    return DeviceKey(device.id, device.key_version, issuer.issue(DEVICE, device.id, version=device.key_version))


def rotate_device_key(repo: Repository, issuer: TokenIssuer, caller: User, device_id: str) -> DeviceKey:
    """Bump the device's key version, which revokes every earlier token, and return a token for the new one."""
    device = get_device(repo, caller, device_id)
    version = repo.bump_device_key(device.id)
    if version is None:
        raise NotFoundError("no such device")
    return DeviceKey(device.id, version, issuer.issue(DEVICE, device.id, version=version))


def add_sensor(repo: Repository, caller: User, device_id: str, body: dict[str, Any]) -> Sensor:
    """Create a sensor on a device the caller may manage; the sensor belongs to the device's owner.

    The device is read and the sensor written in one transaction (no separate ownership read).
    """
    fields = SENSOR_CREATE.parse(body)
    mapping = fields["mapping"]

    def build(device: Device) -> Sensor:
        if not can_access(caller, device.owner_id):
            raise NotFoundError("no such device")
        now = utc_now()
        return Sensor(id=new_id(), device_id=device.id, owner_id=device.owner_id, name=fields["name"],
                      description=fields["description"], type=mapping["type"], mapping=mapping,
                      path=fields["path"], created_at=now, updated_at=now)

    sensor = repo.create_sensor(device_id, build)
    if sensor is None:
        raise NotFoundError("no such device")
    return sensor


def list_sensors(repo: Repository, caller: User, device_id: str, page: PageRequest) -> Page[Sensor]:
    """The sensors of a device the caller may see."""
    device = get_device(repo, caller, device_id)
    return repo.list_sensors(device.id, page)


def get_sensor(repo: Repository, caller: User, device_id: str, sensor_id: str) -> Sensor:
    """A sensor of a device the caller may see.

    Raises:
        NotFoundError: no such sensor on that device, or another owner's.
    """
    sensor = repo.get_sensor(sensor_id)
    if sensor is None or sensor.device_id != device_id or not can_access(caller, sensor.owner_id):
        raise NotFoundError("no such sensor")
    return sensor


def update_sensor(repo: Repository, caller: User, device_id: str, sensor_id: str, body: dict[str, Any]) -> Sensor:
    """Change a sensor's name, description or path (its device, owner and type are fixed)."""
    sensor = get_sensor(repo, caller, device_id, sensor_id)
    fields = SENSOR_PATCH.parse(body)
    if not fields:
        return sensor
    fields["updated_at"] = utc_now()
    if not repo.update_sensor(sensor.id, fields):
        raise NotFoundError("no such sensor")
    return replace(sensor, **fields)


def delete_sensor(repo: Repository, caller: User, device_id: str, sensor_id: str) -> None:
    """Delete a sensor and the grants on it."""
    sensor = get_sensor(repo, caller, device_id, sensor_id)
    if not repo.delete_sensor(sensor.id):
        raise NotFoundError("no such sensor")


def device_tree(repo: Repository, caller: User, device_id: str) -> dict:
    """The device with its sensors nested under the groups of their paths."""
    device = get_device(repo, caller, device_id)
    return {"device_id": device.id, "name": device.name, **sensor_tree(repo.sensors_of_device(device.id))}
