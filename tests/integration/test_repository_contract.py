"""The ``Repository`` port's contract, run against Firestore (the emulator) and the in-memory fake alike.

The unit tests of the ownership and grant rules trust ``tests.support.fakes.InMemoryRepository``; these scenarios
are what earns that trust: each runs on both, so wherever the fake and ``FirestoreRepository`` disagree, one of
the two fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from tests.support.accounts import accounts_repository
from infra.domain.claims import CONSUMER, DEVICE
from infra.domain.model import Consumer, Device, DuplicateError, Grant, Page, PageRequest, Sensor, User
from tests.support.fakes import InMemoryRepository

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "firestore"])
def repo(request):
    """The fake, or the real repository on a wiped Firestore emulator."""
    if request.param == "memory":
        return InMemoryRepository()
    return accounts_repository(request.getfixturevalue("firestore_db"))


def user(user_id: str, username: str | None = None) -> User:
    return User(user_id, username or f"name-{user_id}", f"User {user_id}", "user", T0, T0)


def device(device_id: str, owner_id: str) -> Device:
    return Device(device_id, owner_id, f"device {device_id}", "", 1, T0, T0)


def consumer(consumer_id: str, owner_id: str) -> Consumer:
    return Consumer(consumer_id, owner_id, f"consumer {consumer_id}", "", 1, T0, T0)


def sensor(sensor_id: str, of: Device, path: tuple[str, ...] = ()) -> Sensor:
    return Sensor(sensor_id, of.id, of.owner_id, f"sensor {sensor_id}", "", "double", {"type": "double", "unit": "C"},
                  list(path), T0, T0)


def grant(to: Consumer, of: Sensor) -> Grant:
    return Grant(to.id, of.id, of.device_id, of.owner_id, T0)


@dataclass
class World:
    """Alice (u1): devices d1 (sensors s1, s2) and d2 (s3), consumer c1 granted s1 and s3.
    Bob (u2): device d3 (s4), consumer c2 granted s4."""

    alice: User
    bob: User
    d1: Device
    d2: Device
    d3: Device
    c1: Consumer
    c2: Consumer
    s1: Sensor
    s2: Sensor
    s3: Sensor
    s4: Sensor


@pytest.fixture
def world(repo) -> World:
    alice, bob = user("u1", "alice"), user("u2", "bob")
    d1, d2, d3 = device("d1", "u1"), device("d2", "u1"), device("d3", "u2")
    c1, c2 = consumer("c1", "u1"), consumer("c2", "u2")
    s1, s2, s3, s4 = sensor("s1", d1, ("Wheels",)), sensor("s2", d1), sensor("s3", d2), sensor("s4", d3)
    for account in (alice, bob):
        repo.create_user(account, "hash")
    for holder in (d1, d2, d3, c1, c2):
        repo.create_holder(holder)
    for new in (s1, s2, s3, s4):
        assert repo.create_sensor(new.device_id, lambda _device, new=new: new) == new
    for to, of in ((c1, s1), (c1, s3), (c2, s4)):
        assert repo.create_grant(grant(to, of)) is True
    return World(alice, bob, d1, d2, d3, c1, c2, s1, s2, s3, s4)


# ---- users ---------------------------------------------------------------------------------------------------

def test_a_user_reads_back_as_stored_by_id_and_by_username(repo):
    alice = user("u1", "alice")
    repo.create_user(alice, "hash")
    assert repo.get_user("u1") == alice and repo.get_user_by_username("alice") == alice
    for missing in ("u9", "", "a/b", "U1"):
        assert repo.get_user(missing) is None
    for missing in ("bob", "Alice", "al", "../alice"):
        assert repo.get_user_by_username(missing) is None


def test_a_taken_username_or_id_is_a_duplicate_and_stores_nothing(repo):
    repo.create_user(user("u1", "alice"), "hash")
    with pytest.raises(DuplicateError):
        repo.create_user(user("u2", "alice"), "hash")
    with pytest.raises(DuplicateError):
        repo.create_user(user("u1", "carol"), "hash")
    assert repo.get_user("u2") is None and repo.get_user_by_username("carol") is None
    assert repo.get_user_by_username("alice").id == "u1"


def test_updating_a_user_changes_only_the_given_fields(repo):
    repo.create_user(user("u1", "alice"), "hash")
    assert repo.update_user("u1", {"name": "Alice", "token_version": 2}) is True
    assert repo.get_user("u1") == User("u1", "alice", "Alice", "user", T0, T0, token_version=2)
    assert repo.update_user("u9", {"name": "x"}) is False
    assert repo.update_user("a/b", {"name": "x"}) is False


def test_deleting_a_user_deletes_everything_they_own_and_frees_the_username(repo, world):
    assert repo.delete_user("u1") is True
    assert repo.get_user("u1") is None and repo.get_user_by_username("alice") is None
    assert [repo.get_device("d1"), repo.get_device("d2"), repo.get_consumer("c1")] == [None, None, None]
    assert [repo.get_sensor(s) for s in ("s1", "s2", "s3")] == [None, None, None]
    assert repo.granted_sensor_ids("c1") == []
    # Bob's things stay.
    assert repo.get_device("d3") == world.d3 and repo.get_sensor("s4") == world.s4
    assert repo.granted_sensor_ids("c2") == ["s4"]
    assert repo.delete_user("u1") is False
    repo.create_user(user("u3", "alice"), "hash")
    assert repo.get_user_by_username("alice").id == "u3"


# ---- devices and consumers -----------------------------------------------------------------------------------

def test_holders_read_back_by_their_audience_only(repo, world):
    assert repo.get_device("d1") == world.d1 and repo.get_holder(DEVICE, "d1") == world.d1
    assert repo.get_consumer("c1") == world.c1 and repo.get_holder(CONSUMER, "c1") == world.c1
    assert repo.get_consumer("d1") is None and repo.get_device("c1") is None
    assert repo.get_device("a/b") is None and repo.get_device("d9") is None


def test_updating_a_holder(repo, world):
    assert repo.update_holder(DEVICE, "d1", {"name": "renamed", "description": "new"}) is True
    assert repo.get_device("d1").name == "renamed" and repo.get_device("d1").description == "new"
    assert repo.update_holder(CONSUMER, "d1", {"name": "x"}) is False  # d1 is not a consumer
    assert repo.update_holder(DEVICE, "d9", {"name": "x"}) is False


def test_holders_are_listed_per_owner_or_all(repo, world):
    assert repo.list_holders(DEVICE, "u1", PageRequest()) == Page([world.d1, world.d2])
    assert repo.list_holders(DEVICE, None, PageRequest()) == Page([world.d1, world.d2, world.d3])
    assert repo.list_holders(CONSUMER, "u2", PageRequest()) == Page([world.c2])
    assert repo.list_holders(CONSUMER, "u9", PageRequest()) == Page([])


def test_deleting_a_device_deletes_its_sensors_and_their_grants(repo, world):
    assert repo.delete_holder(DEVICE, "d1") is True
    assert repo.get_device("d1") is None
    assert repo.get_sensor("s1") is None and repo.get_sensor("s2") is None
    assert repo.sensors_of_device("d1") == [] and repo.has_grant("c1", "s1") is False
    assert repo.get_sensor("s3") == world.s3 and repo.granted_sensor_ids("c1") == ["s3"]
    assert repo.delete_holder(DEVICE, "d1") is False


def test_deleting_a_consumer_deletes_its_grants_only(repo, world):
    assert repo.delete_holder(CONSUMER, "c1") is True
    assert repo.get_consumer("c1") is None and repo.granted_sensor_ids("c1") == []
    assert repo.get_sensor("s1") == world.s1 and repo.granted_sensor_ids("c2") == ["s4"]
    assert repo.delete_holder(CONSUMER, "c1") is False


def test_bump_key_increments_the_version_and_the_update_time(repo, world):
    assert repo.bump_key(DEVICE, "d1") == 2
    assert repo.bump_key(DEVICE, "d1") == 3
    bumped = repo.get_device("d1")
    assert bumped.key_version == 3 and bumped.updated_at > T0
    assert repo.bump_key(CONSUMER, "c1") == 2 and repo.get_device("d2").key_version == 1
    assert repo.bump_key(DEVICE, "d9") is None and repo.bump_key(DEVICE, "a/b") is None
    assert repo.bump_key(CONSUMER, "d1") is None


# ---- sensors -------------------------------------------------------------------------------------------------

def test_a_sensor_is_built_from_the_device_read_with_it(repo, world):
    seen = []

    def build(read: Device) -> Sensor:
        seen.append(read)
        return sensor("s5", read)

    assert repo.create_sensor("d3", build) == sensor("s5", world.d3)
    assert seen[-1] == world.d3 and repo.get_sensor("s5") == sensor("s5", world.d3)
    assert repo.create_sensor("d9", build) is None and repo.create_sensor("a/b", build) is None
    assert len(seen) == 1


def test_a_sensor_whose_build_raises_is_not_stored(repo, world):
    def refuse(read: Device) -> Sensor:
        raise PermissionError(read.id)

    with pytest.raises(PermissionError):
        repo.create_sensor("d2", refuse)
    assert repo.sensors_of_device("d2") == [world.s3]


def test_a_sensor_reads_back_as_stored_and_copies_do_not_leak(repo, world):
    read = repo.get_sensor("s1")
    assert read == world.s1
    read.mapping["type"] = "keyword"
    read.path.append("Front")
    assert repo.get_sensor("s1") == world.s1


def test_sensors_of_a_device(repo, world):
    assert repo.sensors_of_device("d1") == [world.s1, world.s2]
    assert repo.sensor_types("d1") == {"s1": "double", "s2": "double"}
    assert repo.sensors_of_device("d9") == [] and repo.sensor_types("a/b") == {}
    assert repo.list_sensors("d1", PageRequest(limit=1)) == Page([world.s1], "s1")
    assert repo.list_sensors("d1", PageRequest(limit=1, cursor="s1")) == Page([world.s2])


def test_updating_a_sensor(repo, world):
    assert repo.update_sensor("s1", {"name": "left", "path": ["Wheels", "Front"]}) is True
    assert repo.get_sensor("s1").path == ["Wheels", "Front"] and repo.get_sensor("s1").name == "left"
    assert repo.update_sensor("s9", {"name": "x"}) is False


def test_deleting_a_sensor_deletes_its_grants(repo, world):
    assert repo.delete_sensor("s1") is True
    assert repo.get_sensor("s1") is None and repo.has_grant("c1", "s1") is False
    assert repo.granted_sensor_ids("c1") == ["s3"]
    assert repo.delete_sensor("s1") is False


def test_readable_sensors_are_the_existing_ones_or_the_granted_ones(repo, world):
    asked = ["s2", "s1", "s1", "s9", "a/b", "s4"]
    assert repo.readable_sensors(asked) == {"s1": world.s1, "s2": world.s2, "s4": world.s4}
    assert repo.readable_sensors(asked, granted_to="c1") == {"s1": world.s1}
    assert repo.readable_sensors(asked, granted_to="a/b") == {}
    assert repo.readable_sensors([]) == {}


# ---- grants --------------------------------------------------------------------------------------------------

def test_a_grant_is_created_once(repo, world):
    assert repo.has_grant("c1", "s2") is False
    assert repo.create_grant(grant(world.c1, world.s2)) is True
    assert repo.has_grant("c1", "s2") is True
    with pytest.raises(DuplicateError):
        repo.create_grant(grant(world.c1, world.s2))
    assert repo.granted_sensor_ids("c1") == ["s1", "s2", "s3"]


def test_a_grant_needs_its_consumer_and_sensor_to_exist(repo, world):
    assert repo.create_grant(Grant("c9", "s1", "d1", "u1", T0)) is False
    assert repo.create_grant(Grant("c1", "s9", "d1", "u1", T0)) is False
    assert repo.has_grant("c9", "s1") is False and repo.has_grant("c1", "s9") is False


def test_revoking_a_grant(repo, world):
    assert repo.delete_grant("c1", "s1") is True
    assert repo.has_grant("c1", "s1") is False and repo.granted_sensor_ids("c1") == ["s3"]
    assert repo.delete_grant("c1", "s1") is False
    assert repo.delete_grant("a/b", "s1") is False and repo.has_grant("c1", "a/b") is False


def test_granted_sensors_are_paged_by_grant_id(repo, world):
    assert repo.granted_sensors("c1", PageRequest(limit=1)) == Page([world.s1], "c1__s1")
    assert repo.granted_sensors("c1", PageRequest(limit=1, cursor="c1__s1")) == Page([world.s3])
    assert repo.granted_sensors("c1", PageRequest(limit=2)) == Page([world.s1, world.s3])
    assert repo.granted_sensors("c9", PageRequest()) == Page([])


# ---- paging --------------------------------------------------------------------------------------------------

def test_listings_are_paged_in_id_order_after_the_cursor(repo):
    for user_id in ("u3", "u1", "u5", "u2", "u4"):
        repo.create_user(user(user_id), "hash")
    ids = lambda page: ([u.id for u in page.items], page.next_cursor)  # noqa: E731
    assert ids(repo.list_users(PageRequest(limit=2))) == (["u1", "u2"], "u2")
    assert ids(repo.list_users(PageRequest(limit=2, cursor="u2"))) == (["u3", "u4"], "u4")
    assert ids(repo.list_users(PageRequest(limit=2, cursor="u4"))) == (["u5"], None)
    assert ids(repo.list_users(PageRequest(limit=5))) == (["u1", "u2", "u3", "u4", "u5"], None)
    # The cursor need not exist any more (the last object of a page may have been deleted since).
    assert ids(repo.list_users(PageRequest(limit=2, cursor="u25"))) == (["u3", "u4"], "u4")


# ---- sign-in throttle ----------------------------------------------------------------------------------------

def test_the_throttle_counts_attempts_within_the_window(repo):
    for now in (100.0, 101.0, 102.0):
        assert repo.reserve_signin_attempt("k1", now, 10, 3) is None
    assert repo.reserve_signin_attempt("k1", 103.0, 10, 3) == 7.0  # until the attempt at 100 leaves the window
    assert repo.reserve_signin_attempt("k1", 104.0, 10, 3) == 6.0  # a refused attempt is not counted
    assert repo.reserve_signin_attempt("k2", 104.0, 10, 3) is None  # another key is unaffected
    assert repo.reserve_signin_attempt("k1", 110.5, 10, 3) is None  # the one at 100 has left the window
    assert repo.reserve_signin_attempt("k1", 110.5, 10, 3) == 0.5  # 101 leaves next


def test_clearing_the_throttle_forgets_the_attempts(repo):
    for now in (100.0, 101.0, 102.0):
        repo.reserve_signin_attempt("k1", now, 10, 3)
    repo.clear_signin_attempts("k1")
    repo.clear_signin_attempts("k9")  # nothing to forget is fine
    assert repo.reserve_signin_attempt("k1", 103.0, 10, 3) is None


def test_a_bootstrap_step_is_remembered_once_marked(repo):
    assert repo.bootstrapped("admin-root") is False
    repo.mark_bootstrapped("admin-root")
    repo.mark_bootstrapped("admin-root")  # idempotent
    assert repo.bootstrapped("admin-root") is True
    assert repo.bootstrapped("admin-other") is False


def test_known_sign_in_addresses_are_the_latest_ten(repo):
    assert repo.signin_address_known("user-key", "a0") is False
    for n in range(11):
        repo.remember_signin_address("user-key", f"a{n}", 1000.0 + n)
    repo.remember_signin_address("user-key", "a5", 2000.0)  # again: no duplicate, now the latest
    assert [repo.signin_address_known("user-key", f"a{n}") for n in range(11)] == [False] + [True] * 10
    assert repo.signin_address_known("other-user", "a5") is False


def test_password_hashes_live_beside_the_user_and_go_with_it(repo):
    repo.create_user(user("u1", "alice"), "first hash")
    assert repo.get_password_hash("u1") == "first hash"
    assert repo.update_user("u1", {"token_version": 2}, password_hash="second hash") is True
    assert repo.get_password_hash("u1") == "second hash" and repo.get_user("u1").token_version == 2
    assert repo.update_user("nobody", {"token_version": 2}, password_hash="stray") is False
    assert repo.get_password_hash("nobody") is None
    with pytest.raises(DuplicateError):
        repo.create_user(user("u2", "alice"), "taken username's hash")
    assert repo.get_password_hash("u2") is None  # nothing left behind
    assert repo.delete_user("u1") is True
    assert repo.get_password_hash("u1") is None
