"""api-consumers routes: consumers, their grants on sensors, and consumer keys."""

from __future__ import annotations

from flask import Blueprint

from infra.usecases import grants
from infra.web.auth import current_user
from infra.web.paging import page_reply, page_request
from infra.domain.claims import CONSUMER
from infra.web.app import json_body
from infra.wiring import wiring_of
from run.keyholder_routes import Endpoints, add_keyholder_routes

bp = Blueprint("consumers", __name__)
add_keyholder_routes(bp, CONSUMER, Endpoints(
    list="list_consumers", create="create_consumer", get="get_consumer", patch="patch_consumer", delete="delete_consumer",
    key="get_consumer_key", rotate="rotate_consumer_key"))


@bp.get("/api/consumers/<consumer_id>/sensors")
def list_granted_sensors(consumer_id: str):
    """The sensors the consumer may read."""
    user = current_user()
    return page_reply(grants.granted_sensors(wiring_of().repository, user, consumer_id, page_request()))


@bp.post("/api/consumers/<consumer_id>/sensors")
def grant_sensor(consumer_id: str):
    """Let the consumer read a sensor of the same owner (``{"sensor_id"}``)."""
    user = current_user()
    grant = grants.grant_sensor(wiring_of().repository, user, consumer_id, json_body(lenient=True))
    return grant.public(), 201, {"Location": f"/api/consumers/{consumer_id}/sensors/{grant.sensor_id}"}


@bp.delete("/api/consumers/<consumer_id>/sensors/<sensor_id>")
def revoke_sensor(consumer_id: str, sensor_id: str):
    """Take a sensor away from the consumer."""
    grants.revoke_sensor(wiring_of().repository, current_user(), consumer_id, sensor_id)
    return "", 204
