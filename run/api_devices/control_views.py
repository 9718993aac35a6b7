"""api-devices routes of device control: a device's twin (desired and reported state) and its commands.

Status rides on every device reply (``device_replies``); the device's own side of these routes is gateway-http's.
"""

from __future__ import annotations

from flask import Blueprint, request

from infra.domain.control import etag, parse_etag
from infra.domain.errors import BadRequestError
from infra.web.app import json_body
from infra.web.auth import current_user
from infra.web.paging import page_request
from infra.wiring import wiring_of

bp = Blueprint("device_control", __name__)


@bp.get("/api/devices/<device_id>/twin")
def get_twin(device_id: str):
    """The device's desired and reported state with their versions and the delta; ETag: the desired version."""
    twin = wiring_of().control.twin(current_user(), device_id)
    return twin.public(), {"ETag": etag(twin.desired_version)}


@bp.put("/api/devices/<device_id>/twin/desired")
def put_desired(device_id: str):
    """Replace the desired state, if still at the version ``If-Match`` (or ``?version=``) names."""
    user = current_user()
    twin = wiring_of().control.set_desired(user, device_id, json_body(lenient=True), _expected_version())
    return twin.public(), {"ETag": etag(twin.desired_version)}


@bp.post("/api/devices/<device_id>/commands")
def send_command(device_id: str):
    """Queue a command ``{name, payload?, ttl?}`` for the device."""
    control = wiring_of().control
    command = control.send_command(current_user(), device_id, json_body(lenient=True))
    return control.shown(command), 201, {"Location": f"/api/devices/{device_id}/commands/{command.id}"}


@bp.get("/api/devices/<device_id>/commands")
def list_commands(device_id: str):
    """The device's commands, newest first (``?status=`` one lifecycle status)."""
    control = wiring_of().control
    page = control.list_commands(current_user(), device_id, page_request(), request.args.get("status") or None)
    return {"items": [control.shown(command) for command in page.items], "next_cursor": page.next_cursor}


@bp.get("/api/devices/<device_id>/commands/<command_id>")
def get_command(device_id: str, command_id: str):
    """One command and where it is in its lifecycle."""
    control = wiring_of().control
    return control.shown(control.get_command(current_user(), device_id, command_id))


def _expected_version() -> int | None:
    header = parse_etag(request.headers.get("If-Match"), "If-Match")
    raw = request.args.get("version")
    if raw is None:
        return header
    query = parse_etag(raw, "version")
    if header is not None and header != query:
        raise BadRequestError("If-Match and ?version= name different versions", code="invalid_header")
    return query
