"""api-devices routes: devices (each reply with its status), their sensors and sensor tree, and device keys."""

from __future__ import annotations

from flask import Blueprint, request

from infra.domain.rejections import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT
from infra.usecases import keyholders, sensors
from infra.web.auth import current_user
from infra.domain.errors import BadRequestError
from infra.web.paging import page_reply, page_request
from infra.domain.claims import DEVICE
from infra.web.app import json_body
from infra.wiring import wiring_of
from infra.web.accepted import accepted
from run.api_devices.device_replies import DeviceReplies
from run.keyholder_routes import Endpoints, add_keyholder_routes

bp = Blueprint("devices", __name__)
add_keyholder_routes(bp, DEVICE, Endpoints(
    list="list_devices", create="create_device", get="get_device", patch="patch_device", delete="delete_device",
    key="get_device_key", rotate="rotate_device_key"), DeviceReplies())


@bp.get("/api/devices/<device_id>/rejections")
def list_device_rejections(device_id: str):
    """Telemetry of the device that was refused for good (newest first), so nothing is lost silently."""
    device = keyholders.get(wiring_of().repository, DEVICE, current_user(), device_id)
    try:
        limit = int(request.args.get("limit", DEFAULT_LIST_LIMIT))
        items = wiring_of().rejections.list(device.owner_id, device.id, limit)
    except ValueError:
        raise BadRequestError(f"limit must be between 1 and {MAX_LIST_LIMIT}",
                              code="invalid_query") from None
    return {"items": items}


@bp.get("/api/devices/<device_id>/tree")
def get_tree(device_id: str):
    """The device's sensors nested under the groups of their paths."""
    return sensors.device_tree(wiring_of().repository, current_user(), device_id)


@bp.get("/api/devices/<device_id>/sensors")
def list_sensors(device_id: str):
    """The sensors of a device."""
    user = current_user()
    return page_reply(sensors.list_sensors(wiring_of().repository, user, device_id, page_request()))


@bp.post("/api/devices/<device_id>/sensors")
def create_sensor(device_id: str):
    """Add a sensor to a device (``mapping`` as an object or a JSON string)."""
    user = current_user()
    sensor = sensors.add_sensor(wiring_of().repository, user, device_id, json_body(lenient=True))
    return sensor.public(), 201, {"Location": f"/api/devices/{device_id}/sensors/{sensor.id}"}


@bp.get("/api/devices/<device_id>/sensors/<sensor_id>")
def get_sensor(device_id: str, sensor_id: str):
    """One sensor."""
    return sensors.get_sensor(wiring_of().repository, current_user(), device_id, sensor_id).public()


@bp.patch("/api/devices/<device_id>/sensors/<sensor_id>")
def patch_sensor(device_id: str, sensor_id: str):
    """Change a sensor's name, description or path."""
    user = current_user()
    sensor = sensors.update_sensor(wiring_of().repository, user, device_id, sensor_id, json_body(lenient=True))
    return sensor.public()


@bp.delete("/api/devices/<device_id>/sensors/<sensor_id>")
def delete_sensor(device_id: str, sensor_id: str):
    """Delete a sensor and the grants on it; 202 while its readings are being erased."""
    wiring = wiring_of()
    return accepted(sensors.delete_sensor(wiring.repository, current_user(), device_id, sensor_id, wiring.erasures))
