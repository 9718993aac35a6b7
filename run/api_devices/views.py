"""api-devices routes: devices, their sensors and sensor tree, and device keys."""

from __future__ import annotations

from flask import Blueprint, request

from infra import registry, rejections
from infra.auth import current_user
from infra.paging import page_reply, page_request
from infra.errors import BadRequestError
from infra.web import clients_of, json_body
from infra.wiring import wiring_of

bp = Blueprint("devices", __name__)


@bp.get("/api/devices")
def list_devices():
    """The caller's devices (an admin: everyone's, or one owner's with ``?owner_id=``)."""
    user = current_user()
    page = registry.list_devices(wiring_of().repository, user, page_request(), request.args.get("owner_id"))
    return page_reply(page)


@bp.post("/api/devices")
def create_device():
    """Register a device owned by the caller."""
    user = current_user()
    device = registry.register_device(wiring_of().repository, user, json_body(lenient=True))
    return device.public(), 201, {"Location": f"/api/devices/{device.id}"}


@bp.get("/api/devices/<device_id>")
def get_device(device_id: str):
    """One device."""
    return registry.get_device(wiring_of().repository, current_user(), device_id).public()


@bp.patch("/api/devices/<device_id>")
def patch_device(device_id: str):
    """Change a device's name or description."""
    user = current_user()
    return registry.update_device(wiring_of().repository, user, device_id, json_body(lenient=True)).public()


@bp.delete("/api/devices/<device_id>")
def delete_device(device_id: str):
    """Delete a device with its sensors and their grants."""
    registry.delete_device(wiring_of().repository, current_user(), device_id)
    return "", 204


@bp.get("/api/devices/<device_id>/key")
def get_device_key(device_id: str):
    """A device token for the current key version."""
    wiring = wiring_of()
    return registry.device_key(wiring.repository, wiring.issuer, current_user(), device_id).public()


@bp.post("/api/devices/<device_id>/key/rotate")
def rotate_device_key(device_id: str):
    """Revoke every token of the device and return a new one."""
    wiring = wiring_of()
    key = registry.rotate_device_key(wiring.repository, wiring.issuer, current_user(), device_id)
    wiring.revocations.invalidate("device", device_id)
    return key.public()


@bp.get("/api/devices/<device_id>/rejections")
def list_device_rejections(device_id: str):
    """Telemetry of the device that was refused for good (newest first), so nothing is lost silently."""
    device = registry.get_device(wiring_of().repository, current_user(), device_id)
    try:
        limit = int(request.args.get("limit", rejections.DEFAULT_LIST_LIMIT))
        items = rejections.list_rejections(clients_of().firestore, device.owner_id, device.id, limit)
    except ValueError:
        raise BadRequestError(f"limit must be between 1 and {rejections.MAX_LIST_LIMIT}",
                              code="invalid_query") from None
    return {"items": items}


@bp.get("/api/devices/<device_id>/tree")
def get_tree(device_id: str):
    """The device's sensors nested under the groups of their paths."""
    return registry.device_tree(wiring_of().repository, current_user(), device_id)


@bp.get("/api/devices/<device_id>/sensors")
def list_sensors(device_id: str):
    """The sensors of a device."""
    user = current_user()
    return page_reply(registry.list_sensors(wiring_of().repository, user, device_id, page_request()))


@bp.post("/api/devices/<device_id>/sensors")
def create_sensor(device_id: str):
    """Add a sensor to a device (``mapping`` as an object or a JSON string)."""
    user = current_user()
    sensor = registry.add_sensor(wiring_of().repository, user, device_id, json_body(lenient=True))
    return sensor.public(), 201, {"Location": f"/api/devices/{device_id}/sensors/{sensor.id}"}


@bp.get("/api/devices/<device_id>/sensors/<sensor_id>")
def get_sensor(device_id: str, sensor_id: str):
    """One sensor."""
    return registry.get_sensor(wiring_of().repository, current_user(), device_id, sensor_id).public()


@bp.patch("/api/devices/<device_id>/sensors/<sensor_id>")
def patch_sensor(device_id: str, sensor_id: str):
    """Change a sensor's name, description or path."""
    user = current_user()
    sensor = registry.update_sensor(wiring_of().repository, user, device_id, sensor_id, json_body(lenient=True))
    return sensor.public()


@bp.delete("/api/devices/<device_id>/sensors/<sensor_id>")
def delete_sensor(device_id: str, sensor_id: str):
    """Delete a sensor and the grants on it."""
    registry.delete_sensor(wiring_of().repository, current_user(), device_id, sensor_id)
    return "", 204
