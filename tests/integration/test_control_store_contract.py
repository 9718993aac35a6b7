"""The ``ControlStore`` port's contract, run against Firestore (the emulator) and the in-memory fake alike.

The unit tests of the control use cases trust ``tests.support.fakes.InMemoryControl``; every scenario here runs on
both, so wherever the fake and ``FirestoreControl`` disagree, one of the two fails.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from infra.adapters.firestore import ControlUnavailableError, FirestoreRepository
from infra.adapters.firestore_control import FirestoreControl
from infra.domain.control import (DELIVERED, FAILED, QUEUED, SUCCEEDED, Command, Sighting, Status,
                                  VersionConflictError, new_command, new_command_id)
from infra.domain.claims import DEVICE
from infra.domain.model import Device, PageRequest, User
from tests.support.accounts import accounts_repository, control_database
from tests.support.fakes import InMemoryControl

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "firestore"])
def store(request):
    """The fake, or the real store on the wiped device-control database of the Firestore emulator."""
    if request.param == "memory":
        return InMemoryControl()
    return FirestoreControl(control_database(request.getfixturevalue("firestore_db")))


def command(device_id: str = "d1", *, at: datetime = T0, ttl: int = 60, name: str = "reboot", payload=None) -> Command:
    return new_command(new_command_id(at), device_id, "o1", {"name": name, "payload": payload, "ttl": ttl}, at)


# ---- twins ---------------------------------------------------------------------------------------------------

def test_a_twin_is_created_on_first_update_and_reads_back_as_stored(store):
    assert store.get_twin("d1") is None and store.get_twin("../d1") is None
    odd = {"": 1, "__x__": {"a.b": [1, 2.5, None, "é"]}, "n": 10**15, "f": 1.0}
    twin = store.update_twin("d1", "o1", lambda t: t.with_desired(odd, T0))
    assert (twin.owner_id, twin.desired_version) == ("o1", 1)
    assert store.get_twin("d1") == twin and store.get_twin("d1").desired == odd
    assert isinstance(store.get_twin("d1").desired["f"], float)
    reported = store.update_twin("d1", "o1", lambda t: t.with_reported({"rate": 5}, T0))
    assert (reported.desired, reported.reported, reported.reported_version) == (odd, {"rate": 5}, 1)
    assert store.get_twins(["d1", "d2", "d1", "a/b"]) == {"d1": reported}


def test_a_change_that_raises_stores_nothing(store):
    store.update_twin("d1", "o1", lambda t: t.with_desired({"rate": 1}, T0))
    with pytest.raises(VersionConflictError):
        store.update_twin("d1", "o1", lambda t: t.with_desired({"rate": 2}, T0, expected_version=0))
    assert store.get_twin("d1").desired == {"rate": 1}
    with pytest.raises(RuntimeError):
        store.update_twin("d2", "o1", _boom)
    assert store.get_twin("d2") is None


# ---- commands ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [None, {"delay": 5, "": [1]}, [1, "two"], "text", 3.5])
def test_a_command_reads_back_as_stored(store, payload):
    sent = command(payload=payload)
    store.create_command(sent)
    assert store.get_command(sent.id) == sent
    assert store.get_command("nope") is None and store.get_command("a/b") is None


def test_commands_change_atomically_and_a_failed_change_stores_nothing(store):
    sent = command()
    store.create_command(sent)
    delivered = store.update_command(sent.id, lambda c: c.delivered(T0 + timedelta(seconds=1)))
    done = store.update_command(sent.id, lambda c: c.finished(SUCCEEDED, T0 + timedelta(seconds=2), result=[1]))
    assert (delivered.status, done.status, done.result) == (DELIVERED, SUCCEEDED, [1])
    assert store.get_command(sent.id) == done
    with pytest.raises(RuntimeError):
        store.update_command(sent.id, _boom)
    assert store.get_command(sent.id) == done
    assert store.update_command("missing", lambda c: c) is None


def test_a_devices_commands_list_newest_first_in_pages_and_by_stored_status(store):
    sent = [command(at=T0 + timedelta(seconds=i)) for i in range(5)]
    for c in sent:
        store.create_command(c)
    store.create_command(command("d2"))
    store.update_command(sent[1].id, lambda c: c.finished(FAILED, T0, error="no"))
    newest_first = [c.id for c in reversed(sent)]
    first = store.list_commands("d1", PageRequest(limit=3))
    second = store.list_commands("d1", PageRequest(limit=3, cursor=first.next_cursor))
    assert [c.id for c in first.items + second.items] == newest_first and second.next_cursor is None
    assert [c.id for c in store.list_commands("d1", PageRequest(), [FAILED]).items] == [sent[1].id]
    queued = store.list_commands("d1", PageRequest(), [QUEUED, DELIVERED]).items
    assert [c.id for c in queued] == [c for c in newest_first if c != sent[1].id]
    assert store.list_commands("a/b", PageRequest()).items == []


def test_open_commands_are_the_unexpired_unanswered_ones_oldest_first(store):
    old = command(at=T0, ttl=10)  # expired by T0 + 20
    live = [command(at=T0 + timedelta(seconds=i), ttl=600 - 2 * i) for i in range(1, 4)]  # expiring in reverse
    answered = command(at=T0 + timedelta(seconds=5))
    for c in (old, *live, answered, command("d2")):
        store.create_command(c)
    store.update_command(live[0].id, lambda c: c.delivered(T0))
    store.update_command(answered.id, lambda c: c.finished(SUCCEEDED, T0))
    now = T0 + timedelta(seconds=20)
    assert [c.id for c in store.open_commands("d1", now, 10)] == [c.id for c in live]
    # The limit keeps the ones closest to expiry (Firestore orders by it), still delivered oldest first.
    assert [c.id for c in store.open_commands("d1", now, 2)] == [live[1].id, live[2].id]
    assert store.open_commands("a/b", now, 10) == []


# ---- presence ------------------------------------------------------------------------------------------------

def test_a_device_never_seen_has_an_empty_status(store):
    assert store.statuses(["d1", "a/b"], T0) == {"d1": Status()}


def test_sightings_set_last_seen_and_sessions_make_a_device_connected(store):
    store.record_seen({"d1": Sighting("o1", T0), "d2": Sighting("o1", T0 + timedelta(seconds=1))})
    store.open_session("d3", "o1", "i1/s1", "mqtt", T0)
    store.open_session("d3", "o1", "i2/s7", "ws", T0 + timedelta(seconds=5))
    statuses = store.statuses(["d1", "d2", "d3"], T0)
    assert statuses["d1"] == Status(last_seen=T0)
    assert statuses["d2"].last_seen == T0 + timedelta(seconds=1) and not statuses["d2"].connected
    assert statuses["d3"] == Status(last_seen=T0 + timedelta(seconds=5), protocols=("mqtt", "ws"),
                                    connected_since=T0)
    store.close_session("d3", "i1/s1")
    store.close_session("d3", "i1/s1")  # closing twice, or a session of a device never seen, is harmless
    store.close_session("d9", "i1/s1")
    assert store.statuses(["d3"], T0)["d3"].protocols == ("ws",)


def test_a_session_not_refreshed_is_ignored_and_a_sighting_refreshes_it(store):
    store.open_session("d1", "o1", "i1/s1", "mqtt", T0)
    later = T0 + timedelta(seconds=100)
    assert not store.statuses(["d1"], later)["d1"].connected  # its instance may have died
    store.record_seen({"d1": Sighting("o1", later, ("i1/s1",))})
    assert store.statuses(["d1"], later)["d1"] == Status(last_seen=later, protocols=("mqtt",), connected_since=T0)
    store.close_session("d1", "i1/s1")
    store.record_seen({"d1": Sighting("o1", later, ("i1/s1",))})  # a refresh racing the close leaves no session
    assert not store.statuses(["d1"], later)["d1"].connected


def test_the_live_instances_of_a_device_are_those_whose_sessions_are_refreshed(store):
    """Where a nudge must go (infra.usecases.control): each instance once, however many sessions it holds."""
    store.open_session("d1", "o1", "i1/s1", "ws", T0)
    store.open_session("d1", "o1", "i1/s2", "mqtt", T0)
    store.open_session("d1", "o1", "i2/s1", "ws", T0 - timedelta(seconds=100))  # its instance may have died
    assert store.live_instances("d1", T0 - timedelta(seconds=10)) == {"i1"}
    store.close_session("d1", "i1/s1")
    store.close_session("d1", "i1/s2")
    assert store.live_instances("d1", T0 - timedelta(seconds=10)) == set()
    assert store.live_instances("d2", T0) == set() == store.live_instances("../d1", T0)


def _boom(_value):
    raise RuntimeError("refused")



def test_deleting_a_device_or_its_owner_deletes_its_twin_commands_and_presence(firestore_db):
    repository = accounts_repository(firestore_db)
    store = FirestoreControl(repository.control)
    for device_id, owner_id in (("d1", "o1"), ("d2", "o1"), ("d3", "o2")):
        repository.create_holder(Device(device_id, owner_id, device_id, "", 1, T0, T0))
        store.update_twin(device_id, owner_id, lambda t: t.with_desired({"on": True}, T0))
        store.create_command(replace(command(device_id), owner_id=owner_id))
        store.record_seen({device_id: Sighting(owner_id, T0)})
    assert not [collection.id for collection in firestore_db.collections()
                if collection.id in ("twins", "commands", "presence")]  # all in the device-control database
    assert repository.delete_holder(DEVICE, "d1")
    assert store.get_twin("d1") is None and store.list_commands("d1", PageRequest()).items == []
    assert store.statuses(["d1"], T0)["d1"] == Status() and store.get_twin("d2") is not None
    repository.create_user(User("o1", "owner-one", "Owner", "user", T0, T0), "hash")
    assert repository.delete_user("o1")
    assert store.get_twins(["d2", "d3"]).keys() == {"d3"} and store.statuses(["d2"], T0)["d2"] == Status()
    assert store.list_commands("d2", PageRequest()).items == [] and len(store.list_commands("d3", PageRequest()).items) == 1


def test_a_delete_without_the_control_database_deletes_nothing_and_a_retry_finishes_it(firestore_db):
    """The control documents go first: a cascade stopped there leaves the device, for a retried delete to finish."""
    repository = accounts_repository(firestore_db)
    store = FirestoreControl(repository.control)
    repository.create_user(User("o1", "owner-one", "Owner", "user", T0, T0), "hash")
    repository.create_holder(Device("d1", "o1", "d1", "", 1, T0, T0))
    store.update_twin("d1", "o1", lambda t: t.with_desired({"on": True}, T0))
    for call in (lambda r: r.delete_holder(DEVICE, "d1"), lambda r: r.delete_user("o1")):
        with pytest.raises(ControlUnavailableError, match="IOT_CONTROL_DATABASE"):
            call(FirestoreRepository(firestore_db, repository.credentials))
    assert repository.get_user("o1") and repository.get_device("d1") and store.get_twin("d1")
    assert repository.delete_user("o1")
    assert (repository.get_user("o1"), repository.get_device("d1"), store.get_twin("d1")) == (None, None, None)
