"""Sensors and the sensor tree of a device: the use-cases of api-devices beyond the device itself (which
``infra.usecases.keyholders`` manages, with its keys).

Every call takes the signed-in caller. Objects of another owner are reported as missing (404), so their
existence does not leak; admins see and manage everything. Creating a sensor is one Firestore transaction:
no per-sensor topic, index or job (what made the original collapse under a sensor-creation burst).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from infra.usecases import keyholders
from infra.domain.errors import NotFoundError
from infra.domain.model import (SENSOR_CREATE, SENSOR_PATCH, Device, Page, PageRequest, Sensor, User, can_access, new_id,
                         sensor_tree, utc_now)
from infra.domain.deletions import SENSOR, Deletion
from infra.domain.ports import Repository
from infra.usecases.deletions import DeletionRequests, delete_erasing
from infra.domain.claims import DEVICE


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
    device = keyholders.get(repo, DEVICE, caller, device_id)
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


def delete_sensor(repo: Repository, caller: User, device_id: str, sensor_id: str,
                  erasures: DeletionRequests | None = None) -> Deletion | None:
    """Delete a sensor and the grants on it; with ``erasures``, request the erasure of its readings first."""
    sensor = get_sensor(repo, caller, device_id, sensor_id)
    found, deletion = delete_erasing(erasures, SENSOR, sensor.id, sensor.owner_id, caller,
                                     lambda: repo.delete_sensor(sensor.id))
    if not found:
        raise NotFoundError("no such sensor")
    return deletion


def device_tree(repo: Repository, caller: User, device_id: str) -> dict:
    """The device with its sensors nested under the groups of their paths."""
    device = keyholders.get(repo, DEVICE, caller, device_id)
    return {"device_id": device.id, "name": device.name, **sensor_tree(repo.sensors_of_device(device.id))}
