"""Grant rules through the use cases on the in-memory repository: the caller must be able to manage both the
consumer and the sensor, both must have the same owner (even for an admin), a grant exists once, and deleting a
device, sensor, consumer or account takes its grants with it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from infra.domain.claims import CONSUMER, DEVICE
from infra.domain.errors import ConflictError, ForbiddenError, NotFoundError
from infra.domain.model import Consumer, Device, PageRequest, Sensor
from infra.usecases import accounts, grants, keyholders, sensors


@dataclass
class Things:
    """What one tenant owns: a device with two sensors, another device with one, and a consumer."""

    device: Device
    speed: Sensor
    fuel: Sensor
    other_device: Device
    light: Sensor
    consumer: Consumer


def things_of(repo, owner) -> Things:
    device = keyholders.create(repo, DEVICE, owner, {"name": "car"})
    other = keyholders.create(repo, DEVICE, owner, {"name": "lamp"})

    def add(on: Device, name: str) -> Sensor:
        return sensors.add_sensor(repo, owner, on.id, {"name": name, "mapping": {"type": "double"}})

    return Things(device, add(device, "speed"), add(device, "fuel"), other, add(other, "light"),
                  keyholders.create(repo, CONSUMER, owner, {"name": "dashboard"}))


@pytest.fixture
def hers(repo, alice) -> Things:
    return things_of(repo, alice)


@pytest.fixture
def his(repo, bob) -> Things:
    return things_of(repo, bob)


def granted(repo, consumer: Consumer) -> set[str]:
    return set(repo.granted_sensor_ids(consumer.id))


def test_an_owner_grants_her_sensor_to_her_consumer(repo, alice, hers):
    grant = grants.grant_sensor(repo, alice, hers.consumer.id, {"sensor_id": hers.speed.id})
    assert (grant.consumer_id, grant.sensor_id, grant.device_id, grant.owner_id) == (
        hers.consumer.id, hers.speed.id, hers.device.id, alice.id)
    assert repo.has_grant(hers.consumer.id, hers.speed.id)
    assert grants.granted_sensors(repo, alice, hers.consumer.id, PageRequest()).items == [hers.speed]


def test_a_sensor_granted_already_is_a_conflict(repo, alice, hers):
    grants.grant_sensor(repo, alice, hers.consumer.id, {"sensor_id": hers.speed.id})
    with pytest.raises(ConflictError) as caught:
        grants.grant_sensor(repo, alice, hers.consumer.id, {"sensor_id": hers.speed.id})
    assert caught.value.code == "already_granted"


def test_another_tenants_sensor_cannot_be_granted(repo, bob, hers, his):
    with pytest.raises(NotFoundError) as caught:
        grants.grant_sensor(repo, bob, his.consumer.id, {"sensor_id": hers.speed.id})
    assert caught.value.details == {"field": "sensor_id"}
    assert granted(repo, his.consumer) == set()


def test_another_tenants_consumer_cannot_be_granted_to(repo, bob, hers, his):
    with pytest.raises(NotFoundError):
        grants.grant_sensor(repo, bob, hers.consumer.id, {"sensor_id": his.speed.id})
    assert granted(repo, hers.consumer) == set()


def test_an_unknown_sensor_cannot_be_granted(repo, alice, hers):
    with pytest.raises(NotFoundError):
        grants.grant_sensor(repo, alice, hers.consumer.id, {"sensor_id": "nosuchsensor"})


def test_not_even_an_admin_grants_a_sensor_to_another_tenants_consumer(repo, admin, hers, his):
    with pytest.raises(ForbiddenError) as caught:
        grants.grant_sensor(repo, admin, his.consumer.id, {"sensor_id": hers.speed.id})
    assert caught.value.code == "cross_tenant_grant"
    assert granted(repo, his.consumer) == set()


def test_an_admin_grants_within_one_tenant(repo, admin, alice, hers):
    grant = grants.grant_sensor(repo, admin, hers.consumer.id, {"sensor_id": hers.speed.id})
    assert grant.owner_id == alice.id and granted(repo, hers.consumer) == {hers.speed.id}
    assert grants.granted_sensors(repo, admin, hers.consumer.id, PageRequest()).items == [hers.speed]


def test_revoking_a_grant(repo, alice, hers):
    grants.grant_sensor(repo, alice, hers.consumer.id, {"sensor_id": hers.speed.id})
    grants.revoke_sensor(repo, alice, hers.consumer.id, hers.speed.id)
    assert not repo.has_grant(hers.consumer.id, hers.speed.id)
    with pytest.raises(NotFoundError):
        grants.revoke_sensor(repo, alice, hers.consumer.id, hers.speed.id)


def test_another_tenants_grants_can_be_neither_revoked_nor_listed(repo, alice, bob, hers):
    grants.grant_sensor(repo, alice, hers.consumer.id, {"sensor_id": hers.speed.id})
    with pytest.raises(NotFoundError):
        grants.revoke_sensor(repo, bob, hers.consumer.id, hers.speed.id)
    with pytest.raises(NotFoundError):
        grants.granted_sensors(repo, bob, hers.consumer.id, PageRequest())
    assert granted(repo, hers.consumer) == {hers.speed.id}


# ---- what goes with a deleted object -------------------------------------------------------------------------

def _grant_all(repo, owner, things: Things) -> None:
    for sensor in (things.speed, things.fuel, things.light):
        grants.grant_sensor(repo, owner, things.consumer.id, {"sensor_id": sensor.id})


def test_deleting_a_device_deletes_its_sensors_and_their_grants(repo, alice, hers):
    _grant_all(repo, alice, hers)
    keyholders.delete(repo, DEVICE, alice, hers.device.id)
    assert repo.get_sensor(hers.speed.id) is None and repo.get_sensor(hers.fuel.id) is None
    assert granted(repo, hers.consumer) == {hers.light.id}  # the other device's sensor keeps its grant
    assert repo.get_sensor(hers.light.id) == hers.light


def test_deleting_a_sensor_deletes_its_grants(repo, alice, hers):
    _grant_all(repo, alice, hers)
    sensors.delete_sensor(repo, alice, hers.device.id, hers.speed.id)
    assert granted(repo, hers.consumer) == {hers.fuel.id, hers.light.id}


def test_deleting_a_consumer_deletes_its_grants_but_not_the_sensors(repo, alice, hers):
    _grant_all(repo, alice, hers)
    keyholders.delete(repo, CONSUMER, alice, hers.consumer.id)
    assert granted(repo, hers.consumer) == set() and repo.get_sensor(hers.speed.id) == hers.speed


def test_deleting_an_account_deletes_everything_it_owns_and_nothing_else(repo, admin, alice, bob, hers, his):
    _grant_all(repo, alice, hers)
    _grant_all(repo, bob, his)
    accounts.delete_user(repo, admin, alice.id)
    assert repo.get_user(alice.id) is None
    assert [repo.get_device(hers.device.id), repo.get_device(hers.other_device.id),
            repo.get_consumer(hers.consumer.id), repo.get_sensor(hers.light.id)] == [None] * 4
    assert granted(repo, hers.consumer) == set()
    assert repo.get_device(his.device.id) == his.device and len(granted(repo, his.consumer)) == 3
