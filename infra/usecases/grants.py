"""Grants of sensors to consumers: the use-cases of api-consumers beyond the consumer itself (which
``infra.usecases.keyholders`` manages, with its keys).

A grant lets a consumer read one sensor. The caller must be able to manage both (own them, or be an admin),
and both must have the same owner: a consumer never reads another tenant's sensor, even when an admin asks.
"""

from __future__ import annotations

from typing import Any

from infra.usecases import keyholders
from infra.domain.errors import ConflictError, ForbiddenError, NotFoundError
from infra.domain.model import GRANT_CREATE, DuplicateError, Grant, Page, PageRequest, Sensor, User, can_access, utc_now
from infra.domain.ports import Repository
from infra.domain.claims import CONSUMER


def grant_sensor(repo: Repository, caller: User, consumer_id: str, body: dict[str, Any]) -> Grant:
    """Let a consumer read a sensor.

    Raises:
        NotFoundError: the caller cannot see the consumer or the sensor.
        ForbiddenError: code ``cross_tenant_grant`` when they have different owners (only an admin sees both).
        ConflictError: code ``already_granted``.
    """
    consumer = keyholders.get(repo, CONSUMER, caller, consumer_id)
    sensor_id = GRANT_CREATE.parse(body)["sensor_id"]
    sensor = repo.get_sensor(sensor_id)
    if sensor is None or not can_access(caller, sensor.owner_id):
        raise NotFoundError("no such sensor", details={"field": "sensor_id"})
    if sensor.owner_id != consumer.owner_id:
        raise ForbiddenError("a consumer can only be granted sensors of its own owner", code="cross_tenant_grant")
    grant = Grant(consumer_id=consumer.id, sensor_id=sensor.id, device_id=sensor.device_id,
                  owner_id=sensor.owner_id, created_at=utc_now())
    try:
        created = repo.create_grant(grant)
    except DuplicateError:
        raise ConflictError("the consumer already has this sensor", code="already_granted") from None
    if not created:
        raise NotFoundError("the consumer or the sensor was just deleted")
    return grant


def revoke_sensor(repo: Repository, caller: User, consumer_id: str, sensor_id: str) -> None:
    """Take a sensor away from a consumer.

    Raises:
        NotFoundError: the caller cannot see the consumer, or it has no grant on that sensor.
    """
    consumer = keyholders.get(repo, CONSUMER, caller, consumer_id)
    if not repo.delete_grant(consumer.id, sensor_id):
        raise NotFoundError("the consumer has no grant on this sensor")


def granted_sensors(repo: Repository, caller: User, consumer_id: str, page: PageRequest) -> Page[Sensor]:
    """The sensors a consumer may read."""
    consumer = keyholders.get(repo, CONSUMER, caller, consumer_id)
    return repo.granted_sensors(consumer.id, page)
