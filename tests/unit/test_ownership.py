"""Ownership rules of devices, consumers and sensors, through the use cases on the in-memory repository: another
tenant's object is missing (404, told apart from no object at all by nothing), an admin sees and manages everything,
and rotating a key revokes the tokens of the old one."""

from __future__ import annotations

import pytest

from infra.domain.claims import CONSUMER, DEVICE
from infra.domain.errors import NotFoundError
from infra.domain.model import PageRequest
from infra.usecases import keyholders, sensors
from infra.usecases.revocation import RevocationCache

HOLDER_CALLS = {
    "get": lambda repo, tokens, audience, caller, holder_id: keyholders.get(repo, audience, caller, holder_id),
    "update": lambda repo, tokens, audience, caller, holder_id: keyholders.update(repo, audience, caller, holder_id,
                                                                                  {"name": "taken over"}),
    "delete": lambda repo, tokens, audience, caller, holder_id: keyholders.delete(repo, audience, caller, holder_id),
    "key": lambda repo, tokens, audience, caller, holder_id: keyholders.current_key(repo, tokens, audience, caller,
                                                                                     holder_id),
    "rotate": lambda repo, tokens, audience, caller, holder_id: keyholders.rotate_key(repo, tokens, audience, caller,
                                                                                       holder_id),
}

SENSOR_CALLS = {
    "add": lambda repo, caller, device_id, sensor_id: sensors.add_sensor(
        repo, caller, device_id, {"name": "planted", "mapping": {"type": "long"}}),
    "list": lambda repo, caller, device_id, sensor_id: sensors.list_sensors(repo, caller, device_id, PageRequest()),
    "tree": lambda repo, caller, device_id, sensor_id: sensors.device_tree(repo, caller, device_id),
    "get": lambda repo, caller, device_id, sensor_id: sensors.get_sensor(repo, caller, device_id, sensor_id),
    "update": lambda repo, caller, device_id, sensor_id: sensors.update_sensor(repo, caller, device_id, sensor_id,
                                                                               {"name": "taken over"}),
    "delete": lambda repo, caller, device_id, sensor_id: sensors.delete_sensor(repo, caller, device_id, sensor_id),
}


@pytest.fixture
def device(repo, alice):
    """Alice's device."""
    return keyholders.create(repo, DEVICE, alice, {"name": "car", "description": "red"})


@pytest.fixture
def sensor(repo, alice, device):
    """A sensor of Alice's device."""
    return sensors.add_sensor(repo, alice, device.id, {"name": "speed", "mapping": '{"type": "float", "unit": "km/h"}',
                                                       "path": ["Wheels", "Front"]})


def _refusal(call) -> NotFoundError:
    with pytest.raises(NotFoundError) as caught:
        call()
    return caught.value


# ---- devices and consumers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("audience", [DEVICE, CONSUMER])
@pytest.mark.parametrize("name", HOLDER_CALLS)
def test_another_tenants_device_or_consumer_is_missing(repo, tokens, alice, bob, audience, name):
    call = HOLDER_CALLS[name]
    holder = keyholders.create(repo, audience, alice, {"name": "mine"})
    refused = _refusal(lambda: call(repo, tokens, audience, bob, holder.id))
    missing = _refusal(lambda: call(repo, tokens, audience, bob, "nosuchid"))
    assert (refused.code, refused.message) == (missing.code, missing.message)  # its existence does not leak
    assert repo.get_holder(audience, holder.id) == holder  # not renamed, deleted or rotated
    assert tokens.issued == {}


@pytest.mark.parametrize("audience", [DEVICE, CONSUMER])
def test_an_admin_sees_and_manages_every_tenants_devices_and_consumers(repo, tokens, admin, alice, audience):
    holder = keyholders.create(repo, audience, alice, {"name": "mine"})
    assert keyholders.get(repo, audience, admin, holder.id) == holder
    renamed = keyholders.update(repo, audience, admin, holder.id, {"name": "renamed"})
    assert renamed.owner_id == alice.id and repo.get_holder(audience, holder.id).name == "renamed"
    assert keyholders.current_key(repo, tokens, audience, admin, holder.id).key_version == 1
    assert keyholders.rotate_key(repo, tokens, audience, admin, holder.id).key_version == 2
    keyholders.delete(repo, audience, admin, holder.id)
    assert repo.get_holder(audience, holder.id) is None


@pytest.mark.parametrize("audience", [DEVICE, CONSUMER])
def test_listings_hold_the_callers_own_and_everyones_for_an_admin(repo, admin, alice, bob, audience):
    mine = keyholders.create(repo, audience, alice, {"name": "alice's"}).id
    theirs = keyholders.create(repo, audience, bob, {"name": "bob's"}).id

    def listed(caller, owner_id=None):
        return {holder.id for holder in keyholders.list_holders(repo, audience, caller, PageRequest(), owner_id).items}

    assert listed(alice) == {mine} and listed(bob) == {theirs}
    assert listed(alice, owner_id=bob.id) == {mine}  # only an admin may ask for another owner's
    assert listed(admin) == {mine, theirs} and listed(admin, owner_id=bob.id) == {theirs}


def test_the_owner_changes_only_name_and_description(repo, alice, device):
    changed = keyholders.update(repo, DEVICE, alice, device.id, {"name": "van", "description": None})
    assert (changed.name, changed.description, changed.owner_id) == ("van", "", alice.id)
    assert repo.get_device(device.id) == changed


# ---- sensors -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SENSOR_CALLS)
def test_another_tenants_sensors_are_missing(repo, bob, device, sensor, name):
    _refusal(lambda: SENSOR_CALLS[name](repo, bob, device.id, sensor.id))
    assert repo.sensors_of_device(device.id) == [sensor]  # nothing added, changed or deleted


def test_a_sensor_is_found_only_under_its_own_device(repo, alice, device, sensor):
    other = keyholders.create(repo, DEVICE, alice, {"name": "bike"})
    _refusal(lambda: sensors.get_sensor(repo, alice, other.id, sensor.id))
    _refusal(lambda: sensors.delete_sensor(repo, alice, other.id, sensor.id))
    assert sensors.get_sensor(repo, alice, device.id, sensor.id) == sensor


def test_the_owner_manages_her_sensors(repo, alice, device, sensor):
    assert (sensor.owner_id, sensor.type, sensor.mapping, sensor.path) == (
        alice.id, "double", {"type": "double", "unit": "km/h"}, ["Wheels", "Front"])
    assert sensors.list_sensors(repo, alice, device.id, PageRequest()).items == [sensor]
    moved = sensors.update_sensor(repo, alice, device.id, sensor.id, {"path": ["Engine"]})
    assert repo.get_sensor(sensor.id) == moved and moved.path == ["Engine"]
    tree = sensors.device_tree(repo, alice, device.id)
    assert [group["name"] for group in tree["groups"]] == ["Engine"]
    sensors.delete_sensor(repo, alice, device.id, sensor.id)
    assert repo.get_sensor(sensor.id) is None


def test_an_admin_manages_every_tenants_sensors_which_stay_the_device_owners(repo, admin, alice, device, sensor):
    added = sensors.add_sensor(repo, admin, device.id, {"name": "fuel", "mapping": {"type": "double"}})
    assert added.owner_id == alice.id and repo.get_sensor(added.id) == added
    assert sensors.get_sensor(repo, admin, device.id, sensor.id) == sensor
    assert {s.id for s in sensors.list_sensors(repo, admin, device.id, PageRequest()).items} == {sensor.id, added.id}
    sensors.update_sensor(repo, admin, device.id, sensor.id, {"name": "velocity"})
    assert repo.get_sensor(sensor.id).name == "velocity"
    sensors.delete_sensor(repo, admin, device.id, added.id)
    assert repo.sensors_of_device(device.id) == [repo.get_sensor(sensor.id)]


# ---- keys ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("audience", [DEVICE, CONSUMER])
def test_rotating_a_key_bumps_the_version_and_revokes_the_old_tokens(repo, tokens, alice, audience):
    holder = keyholders.create(repo, audience, alice, {"name": "mine"})
    cache = RevocationCache(repo, ttl=60, clock=lambda: 0.0)  # a frozen clock: entries never age out here
    old = keyholders.current_key(repo, tokens, audience, alice, holder.id)
    assert old.key_version == 1 and cache.current(audience, tokens.verify(old.token, audience)) == holder

    new = keyholders.rotate_key(repo, tokens, audience, alice, holder.id)
    assert new.key_version == 2 and repo.get_holder(audience, holder.id).key_version == 2
    assert tokens.verify(new.token, audience).version == 2
    # The newer token makes the cache look again at once; from then on the old version is refused.
    assert cache.current(audience, tokens.verify(new.token, audience)).key_version == 2
    assert cache.current(audience, tokens.verify(old.token, audience)) is None
    assert keyholders.current_key(repo, tokens, audience, alice, holder.id).key_version == 2


def test_a_cache_that_saw_the_old_version_refuses_it_once_checked_afresh(repo, tokens, alice, device):
    cache = RevocationCache(repo, ttl=60, clock=lambda: 0.0)
    old = tokens.verify(keyholders.current_key(repo, tokens, DEVICE, alice, device.id).token, DEVICE)
    assert cache.current_device(old) is not None
    keyholders.rotate_key(repo, tokens, DEVICE, alice, device.id)
    assert cache.current_device(old, fresh=True) is None


def test_a_deleted_devices_token_is_refused(repo, tokens, alice, device):
    cache = RevocationCache(repo, ttl=60, clock=lambda: 0.0)
    claims = tokens.verify(keyholders.current_key(repo, tokens, DEVICE, alice, device.id).token, DEVICE)
    keyholders.delete(repo, DEVICE, alice, device.id)
    assert cache.current_device(claims, fresh=True) is None
    _refusal(lambda: keyholders.current_key(repo, tokens, DEVICE, alice, device.id))
