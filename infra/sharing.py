"""Consumers, their grants on sensors, and consumer keys: the use-cases of api-consumers.

A grant lets a consumer read one sensor. The caller must be able to manage both (own them, or be an admin),
and both must have the same owner: a consumer never reads another tenant's sensor, even when an admin asks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from infra.errors import ConflictError, ForbiddenError, NotFoundError
from infra.model import (CONSUMER_CREATE, CONSUMER_PATCH, GRANT_CREATE, Consumer, DuplicateError, Grant, Page,
                         PageRequest, Sensor, User, can_access, new_id, utc_now)
from infra.repository import Repository
from infra.tokens import CONSUMER, TokenIssuer


@dataclass(frozen=True)
class ConsumerKey:
    """A consumer token for the current key version."""

    consumer_id: str
    key_version: int
    token: str

    def public(self) -> dict:
        """The key reply (the original's ``{token, consumer_id}`` plus the version)."""
        return {"token": self.token, "consumer_id": self.consumer_id, "key_version": self.key_version}


def create_consumer(repo: Repository, caller: User, body: dict[str, Any]) -> Consumer:
    """Create a consumer owned by the caller."""
    fields = CONSUMER_CREATE.parse(body)
    now = utc_now()
    consumer = Consumer(id=new_id(), owner_id=caller.id, name=fields["name"], description=fields["description"],
                        key_version=1, created_at=now, updated_at=now)
    repo.create_consumer(consumer)
    return consumer


def list_consumers(repo: Repository, caller: User, page: PageRequest,
                   owner_id: str | None = None) -> Page[Consumer]:
    """The caller's consumers; an admin gets everyone's (or one owner's with ``owner_id``)."""
    if not caller.is_admin:
        owner_id = caller.id
    return repo.list_consumers(owner_id, page)


def get_consumer(repo: Repository, caller: User, consumer_id: str) -> Consumer:
    """A consumer the caller may see.

    Raises:
        NotFoundError: no such consumer, or another owner's.
    """
    consumer = repo.get_consumer(consumer_id)
    if consumer is None or not can_access(caller, consumer.owner_id):
        raise NotFoundError("no such consumer")
    return consumer


def update_consumer(repo: Repository, caller: User, consumer_id: str, body: dict[str, Any]) -> Consumer:
    """Change a consumer's name or description (nothing else may change)."""
    consumer = get_consumer(repo, caller, consumer_id)
    fields = CONSUMER_PATCH.parse(body)
    if not fields:
        return consumer
    fields["updated_at"] = utc_now()
    if not repo.update_consumer(consumer.id, fields):
        raise NotFoundError("no such consumer")
    return replace(consumer, **fields)


def delete_consumer(repo: Repository, caller: User, consumer_id: str) -> None:
    """Delete a consumer and its grants; its tokens stop working."""
    consumer = get_consumer(repo, caller, consumer_id)
    if not repo.delete_consumer(consumer.id):
        raise NotFoundError("no such consumer")


def consumer_key(repo: Repository, issuer: TokenIssuer, caller: User, consumer_id: str) -> ConsumerKey:
    """A consumer token for the consumer's current key version (read fresh, not from a cache)."""
    consumer = get_consumer(repo, caller, consumer_id)
    token = issuer.issue(CONSUMER, consumer.id, version=consumer.key_version)
    return ConsumerKey(consumer.id, consumer.key_version, token)


def rotate_consumer_key(repo: Repository, issuer: TokenIssuer, caller: User, consumer_id: str) -> ConsumerKey:
    """Bump the consumer's key version, which revokes every earlier token, and return a token for the new one."""
    consumer = get_consumer(repo, caller, consumer_id)
    version = repo.bump_consumer_key(consumer.id)
    if version is None:
        raise NotFoundError("no such consumer")
    return ConsumerKey(consumer.id, version, issuer.issue(CONSUMER, consumer.id, version=version))


def grant_sensor(repo: Repository, caller: User, consumer_id: str, body: dict[str, Any]) -> Grant:
    """Let a consumer read a sensor.

    Raises:
        NotFoundError: the caller cannot see the consumer or the sensor.
        ForbiddenError: code ``cross_tenant_grant`` when they have different owners (only an admin sees both).
        ConflictError: code ``already_granted``.
    """
    consumer = get_consumer(repo, caller, consumer_id)
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
    consumer = get_consumer(repo, caller, consumer_id)
    if not repo.delete_grant(consumer.id, sensor_id):
        raise NotFoundError("the consumer has no grant on this sensor")


def granted_sensors(repo: Repository, caller: User, consumer_id: str, page: PageRequest) -> Page[Sensor]:
    """The sensors a consumer may read."""
    consumer = get_consumer(repo, caller, consumer_id)
    return repo.granted_sensors(consumer.id, page)
