"""Consumers and grants: same-owner grants only, revocation by key rotation or deletion."""

from __future__ import annotations

import pytest

from emulators.api_client import ApiError
from infra.adapters.keys import load_public_keys
from infra.usecases.revocation import RevocationCache
from infra.adapters.jwt_tokens import JwtVerifier
from infra.domain.claims import CONSUMER, DEVICE

pytestmark = pytest.mark.e2e


def _raises(call, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return caught.value


@pytest.fixture
def verifier(api):
    return JwtVerifier(load_public_keys(api.settings), api.settings.token_issuer)


def test_grant_list_and_revoke(new_user):
    user = new_user()
    device = user.create_device("d")
    sensor = user.create_sensor(device["id"], "s", {"type": "double"})
    consumer = user.create_consumer("dashboard")
    response = user.request("POST", f"/api/consumers/{consumer['id']}/sensors/", json={"sensor_id": sensor["id"]})
    assert response.status_code == 201
    assert response.json() == {**response.json(), "consumer_id": consumer["id"], "sensor_id": sensor["id"],
                               "device_id": device["id"], "owner_id": user.user["id"]}
    _raises(lambda: user.grant(consumer["id"], sensor["id"]), 409, "already_granted")
    assert [s["id"] for s in user.granted_sensors(consumer["id"])] == [sensor["id"]]
    user.revoke(consumer["id"], sensor["id"])
    assert user.granted_sensors(consumer["id"]) == []
    _raises(lambda: user.revoke(consumer["id"], sensor["id"]), 404, "not_found")


def test_grants_across_tenants_are_refused(admin, new_user):
    a, b = new_user(), new_user()
    a_sensor = a.create_sensor(a.create_device("a")["id"], "s", {"type": "double"})
    b_sensor = b.create_sensor(b.create_device("b")["id"], "s", {"type": "double"})
    a_consumer, b_consumer = a.create_consumer("a reader"), b.create_consumer("b reader")

    _raises(lambda: a.grant(a_consumer["id"], b_sensor["id"]), 404, "not_found")  # A's consumer, B's sensor
    _raises(lambda: a.grant(b_consumer["id"], a_sensor["id"]), 404, "not_found")  # B's consumer, A's sensor
    _raises(lambda: admin.grant(a_consumer["id"], b_sensor["id"]), 403, "cross_tenant_grant")
    assert a.granted_sensors(a_consumer["id"]) == [] and b.granted_sensors(b_consumer["id"]) == []
    assert admin.grant(a_consumer["id"], a_sensor["id"])["owner_id"] == a.user["id"]  # admins manage all


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "missing_field"),
    ({"sensor_id": None}, 400, "invalid_field"),
    ({"sensor_id": "000000000000"}, 404, "not_found"),
    ({"sensor_id": 12}, 404, "not_found"),
    ({"sensor_id": "a/b"}, 404, "not_found"),
    ({"sensor_id": "x", "owner_id": "y"}, 400, "read_only_field"),
    ({"sensor_id": "x", "until": "never"}, 400, "unknown_field"),
])
def test_grant_input_is_strict(new_user, body, status, code):
    user = new_user()
    consumer = user.create_consumer("c")
    response = user.request("POST", f"/api/consumers/{consumer['id']}/sensors", json=body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_consumer_patch_cannot_change_owner_or_version(new_user):
    user = new_user()
    consumer = user.create_consumer("c", "first")
    for field, value in (("owner_id", "abc"), ("id", "abc"), ("key_version", 3)):
        _raises(lambda: user.update_consumer(consumer["id"], **{field: value}), 400, "read_only_field")
    assert user.update_consumer(consumer["id"], description="second")["description"] == "second"
    assert user.get_consumer(consumer["id"])["owner_id"] == user.user["id"]


def test_deleting_a_consumer_deletes_its_grants(api, new_user):
    user = new_user()
    sensor = user.create_sensor(user.create_device("d")["id"], "s", {"type": "double"})
    consumer = user.create_consumer("c")
    user.grant(consumer["id"], sensor["id"])
    user.delete_consumer(consumer["id"])
    assert not api.repository.has_grant(consumer["id"], sensor["id"])
    _raises(lambda: user.get_consumer(consumer["id"]), 404, "not_found")


def test_rotating_a_device_key_revokes_its_old_tokens(api, new_user, verifier):
    user = new_user()
    device = user.create_device("d")
    old = user.device_key(device["id"])
    cache = RevocationCache(api.repository, ttl=60)
    claims_old = verifier.verify(old["token"], DEVICE)
    assert cache.current_device(claims_old).owner_id == user.user["id"]  # now cached

    new = user.rotate_device_key(device["id"])

    assert (old["key_version"], new["key_version"]) == (1, 2)
    assert user.device_key(device["id"])["key_version"] == 2
    claims_new = verifier.verify(new["token"], DEVICE)
    # A token newer than the cache is looked up at once; the old one is refused by any fresh lookup.
    assert cache.current_device(claims_new) is not None
    assert cache.current_device(claims_old) is None
    assert RevocationCache(api.repository, ttl=60).lookup(DEVICE, device["id"], 1) is None
    assert cache.lookup(DEVICE, device["id"], 1, fresh=True) is None


def test_rotating_a_consumer_key_revokes_its_old_tokens(api, new_user, verifier):
    user = new_user()
    consumer = user.create_consumer("c")
    old = user.consumer_key(consumer["id"])
    new = user.rotate_consumer_key(consumer["id"])
    assert new["key_version"] == old["key_version"] + 1
    cache = RevocationCache(api.repository, ttl=60)
    assert cache.current_consumer(verifier.verify(old["token"], CONSUMER)) is None
    assert cache.current_consumer(verifier.verify(new["token"], CONSUMER)).id == consumer["id"]


def test_deleting_a_device_or_consumer_revokes_their_tokens(api, new_user, verifier):
    user = new_user()
    device, consumer = user.create_device("d"), user.create_consumer("c")
    device_claims = verifier.verify(user.device_key(device["id"])["token"], DEVICE)
    consumer_claims = verifier.verify(user.consumer_key(consumer["id"])["token"], CONSUMER)
    user.delete_device(device["id"])
    user.delete_consumer(consumer["id"])
    cache = RevocationCache(api.repository, ttl=60)
    assert cache.current_device(device_claims) is None and cache.current_consumer(consumer_claims) is None
