"""Routes of gateway-http for device control, with the device token: the desired state (ETag, If-None-Match, long
poll), the reported state, and commands (poll, answer). The rules are ``infra.usecases.device_control``'s."""

from __future__ import annotations

from flask import Blueprint, Response, request

from infra.domain.control import etag, parse_etag
from infra.domain.errors import BadRequestError
from infra.usecases.device_control import MAX_WAIT_SECONDS
from infra.usecases.ingest import DeviceProfile
from infra.web.app import json_body
from infra.web.auth import bearer_token
from infra.wiring import wiring_of

bp = Blueprint("gateway_http_control", __name__)


@bp.get("/twin/desired")
def get_desired():
    """The desired state ``{version, desired}``; 304 while ``If-None-Match`` names the current version, after up to
    ``?wait=`` seconds (at most 30) for a newer one."""
    device = _device()
    known = parse_etag(request.headers.get("If-None-Match"), "If-None-Match")
    twin = wiring_of().device_control.wait_for_desired(device, known, _wait_seconds())
    headers = {"ETag": etag(twin.desired_version), "Cache-Control": "no-cache"}
    if known is not None and twin.desired_version == known:
        return Response(status=304, headers=headers)
    return twin.config(), headers


@bp.put("/twin/reported")
def put_reported():
    """Merge the device's state into its reported state (``null`` removes a key); answer ``{version, reported}``."""
    device = _device()
    twin = wiring_of().device_control.report(device, json_body(lenient=True))
    return {"version": twin.reported_version, "reported": twin.reported}


@bp.get("/commands")
def poll_commands():
    """The device's unanswered, unexpired commands, oldest first; the queued ones are now delivered."""
    device = _device()
    return {"items": [command.for_device() for command in wiring_of().device_control.poll_commands(device)]}


@bp.post("/commands/<command_id>/result")
def answer_command(command_id: str):
    """Record the answer ``{status: succeeded | failed, result?, error?}`` to one of the device's commands."""
    device = _device()
    command = wiring_of().device_control.answer(device, command_id, json_body(lenient=True))
    return {"id": command.id, "status": command.status}


def _device() -> DeviceProfile:
    """The device of the request's token (401/403 as for telemetry), within its request budget (429)."""
    ingestor = wiring_of().ingestor
    identity = ingestor.authenticate(bearer_token(request.headers))
    ingestor.check_rate(identity)
    return ingestor.device_of(identity)


def _wait_seconds() -> float:
    raw = request.args.get("wait")
    if raw is None:
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise BadRequestError(f"wait must be seconds from 0 to {MAX_WAIT_SECONDS}", code="invalid_query",
                              details={"parameter": "wait"})
    return wait
