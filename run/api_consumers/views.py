"""api-consumers routes: consumers, their grants on sensors, and consumer keys."""

from __future__ import annotations

from flask import Blueprint, request

from infra import sharing
from infra.auth import current_user
from infra.paging import page_reply, page_request
from infra.web import json_body
from infra.wiring import wiring_of

bp = Blueprint("consumers", __name__)


@bp.get("/api/consumers")
def list_consumers():
    """The caller's consumers (an admin: everyone's, or one owner's with ``?owner_id=``)."""
    user = current_user()
    page = sharing.list_consumers(wiring_of().repository, user, page_request(), request.args.get("owner_id"))
    return page_reply(page)


@bp.post("/api/consumers")
def create_consumer():
    """Create a consumer owned by the caller."""
    user = current_user()
    consumer = sharing.create_consumer(wiring_of().repository, user, json_body(lenient=True))
    return consumer.public(), 201, {"Location": f"/api/consumers/{consumer.id}"}


@bp.get("/api/consumers/<consumer_id>")
def get_consumer(consumer_id: str):
    """One consumer."""
    return sharing.get_consumer(wiring_of().repository, current_user(), consumer_id).public()


@bp.patch("/api/consumers/<consumer_id>")
def patch_consumer(consumer_id: str):
    """Change a consumer's name or description."""
    user = current_user()
    return sharing.update_consumer(wiring_of().repository, user, consumer_id, json_body(lenient=True)).public()


@bp.delete("/api/consumers/<consumer_id>")
def delete_consumer(consumer_id: str):
    """Delete a consumer and its grants."""
    sharing.delete_consumer(wiring_of().repository, current_user(), consumer_id)
    return "", 204


@bp.get("/api/consumers/<consumer_id>/key")
def get_consumer_key(consumer_id: str):
    """A consumer token for the current key version."""
    wiring = wiring_of()
    return sharing.consumer_key(wiring.repository, wiring.issuer, current_user(), consumer_id).public()


@bp.post("/api/consumers/<consumer_id>/key/rotate")
def rotate_consumer_key(consumer_id: str):
    """Revoke every token of the consumer and return a new one."""
    wiring = wiring_of()
    key = sharing.rotate_consumer_key(wiring.repository, wiring.issuer, current_user(), consumer_id)
    wiring.revocations.invalidate("consumer", consumer_id)
    return key.public()


@bp.get("/api/consumers/<consumer_id>/sensors")
def list_granted_sensors(consumer_id: str):
    """The sensors the consumer may read."""
    user = current_user()
    return page_reply(sharing.granted_sensors(wiring_of().repository, user, consumer_id, page_request()))


@bp.post("/api/consumers/<consumer_id>/sensors")
def grant_sensor(consumer_id: str):
    """Let the consumer read a sensor of the same owner (``{"sensor_id"}``)."""
    user = current_user()
    grant = sharing.grant_sensor(wiring_of().repository, user, consumer_id, json_body(lenient=True))
    return grant.public(), 201, {"Location": f"/api/consumers/{consumer_id}/sensors/{grant.sensor_id}"}


@bp.delete("/api/consumers/<consumer_id>/sensors/<sensor_id>")
def revoke_sensor(consumer_id: str, sensor_id: str):
    """Take a sensor away from the consumer."""
    sharing.revoke_sensor(wiring_of().repository, current_user(), consumer_id, sensor_id)
    return "", 204
