"""The owner's side of device control (infra.usecases.control) on the in-memory fakes: ownership, the desired state
with versions, commands stored before their nudge (which may fail) to each instance holding a live session of the
device, listings filtered by lifecycle and by device status."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from infra.domain.claims import DEVICE
from infra.domain.control import DELIVERED, EXPIRED, QUEUED, SUCCEEDED, Sighting, VersionConflictError
from infra.domain.errors import BadRequestError, NotFoundError, PayloadTooLargeError
from infra.domain.model import PageRequest
from infra.usecases import keyholders
from infra.usecases.control import OwnerControl, StatusPolicy
from tests.support.clocks import ManualClock
from tests.support.fakes import FakeControlBus, InMemoryControl

@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store() -> InMemoryControl:
    return InMemoryControl()


@pytest.fixture
def bus() -> FakeControlBus:
    return FakeControlBus()


@pytest.fixture
def control(repo, store, bus, clock) -> OwnerControl:
    return OwnerControl(repo, store, bus, StatusPolicy.from_seconds(300, 30), clock=clock)


@pytest.fixture
def device(repo, alice, store, clock):
    """A device with a live session on the gateway instance ``gw-a``."""
    device = keyholders.create(repo, DEVICE, alice, {"name": "boiler"})
    store.open_session(device.id, alice.id, "gw-a/s1", "ws", clock())
    return device


def test_the_owner_and_an_admin_set_the_desired_state_and_the_gateways_are_nudged(control, bus, alice, admin, device):
    assert control.twin(alice, device.id).desired_version == 0
    first = control.set_desired(alice, device.id, {"rate": 5, "mode": None}, None)
    second = control.set_desired(admin, device.id, {"rate": 6}, expected_version=1)
    assert (first.desired, second.desired, second.desired_version) == ({"rate": 5}, {"rate": 6}, 2)
    assert control.twin(alice, device.id) == second
    assert bus.published == [("gw-a", "config", device.id, {"version": 1, "desired": {"rate": 5}}),
                             ("gw-a", "config", device.id, {"version": 2, "desired": {"rate": 6}})]


def test_another_tenant_neither_sees_nor_changes_a_device(control, store, bob, device):
    for attempt in (lambda: control.twin(bob, device.id), lambda: control.set_desired(bob, device.id, {}, None),
                    lambda: control.send_command(bob, device.id, {"name": "reboot"}),
                    lambda: control.list_commands(bob, device.id, PageRequest())):
        with pytest.raises(NotFoundError):
            attempt()
    assert store.twins == {} and store.commands == {}


def test_a_stale_version_or_a_bad_document_changes_nothing_and_nudges_nobody(control, bus, alice, device):
    control.set_desired(alice, device.id, {"rate": 5}, None)
    bus.published.clear()
    with pytest.raises(VersionConflictError):
        control.set_desired(alice, device.id, {"rate": 7}, expected_version=0)
    with pytest.raises(BadRequestError):
        control.set_desired(alice, device.id, [1, 2], None)
    with pytest.raises(PayloadTooLargeError):
        control.set_desired(alice, device.id, {"blob": "x" * 9000}, None)
    assert control.twin(alice, device.id).desired == {"rate": 5} and bus.published == []


def test_a_command_is_stored_queued_then_nudged(control, store, bus, alice, device):
    command = control.send_command(alice, device.id, {"name": "reboot", "payload": {"delay": 5}, "ttl": 60})
    assert store.get_command(command.id) == command and command.status == QUEUED
    assert bus.published == [("gw-a", "command", device.id, {"command": command.for_device()})]
    with pytest.raises(BadRequestError):
        control.send_command(alice, device.id, {"name": "Reboot!"})
    assert list(store.commands) == [command.id]


def test_a_nudge_goes_once_to_each_instance_holding_a_live_session_and_to_no_other(control, store, bus, clock, alice,
                                                                                   device):
    store.open_session(device.id, alice.id, "gw-a/s2", "mqtt", clock())  # a second session on the same instance
    store.open_session(device.id, alice.id, "gw-dead/s1", "ws", clock())
    clock.advance(120)  # gw-dead stops refreshing its session (3 presence intervals of 30 s: stale after 90 s)
    store.record_seen({device.id: Sighting(alice.id, clock(), ("gw-a/s1", "gw-a/s2"))})
    store.open_session(device.id, alice.id, "gw-b/s1", "mqtt", clock())
    command = control.send_command(alice, device.id, {"name": "reboot"})
    assert [(instance, kind) for instance, kind, *_ in bus.published] == [("gw-a", "command"), ("gw-b", "command")]
    assert {body["command"]["id"] for *_, body in bus.published} == {command.id}


def test_a_device_connected_to_no_instance_gets_no_nudge(control, store, bus, alice, device):
    store.close_session(device.id, "gw-a/s1")
    control.set_desired(alice, device.id, {"rate": 5}, None)
    control.send_command(alice, device.id, {"name": "reboot"})
    assert bus.published == [] and len(store.commands) == 1


def test_when_the_bus_is_down_the_desired_state_and_the_command_are_still_stored(control, store, bus, alice, device,
                                                                                caplog):
    bus.down = True
    with caplog.at_level(logging.WARNING):
        twin = control.set_desired(alice, device.id, {"rate": 5}, None)
        command = control.send_command(alice, device.id, {"name": "reboot"})
    assert store.get_twin(device.id) == twin and store.get_command(command.id) == command
    assert caplog.text.count("delivered on poll or connect") == 2


def test_commands_list_newest_first_by_lifecycle_status_with_expiry_applied(control, store, clock, alice, device):
    short = control.send_command(alice, device.id, {"name": "ping", "ttl": 5})
    clock.advance(1)
    done = control.send_command(alice, device.id, {"name": "reboot"})
    store.update_command(done.id, lambda c: c.finished(SUCCEEDED, clock(), result={"ok": True}))
    clock.advance(1)
    pending = control.send_command(alice, device.id, {"name": "update"})
    store.update_command(pending.id, lambda c: c.delivered(clock()))
    clock.advance(10)  # the first one expired unanswered

    def ids(status=None):
        return [c.id for c in control.list_commands(alice, device.id, PageRequest(), status).items]

    assert ids() == [pending.id, done.id, short.id]
    assert (ids(EXPIRED), ids(SUCCEEDED), ids(DELIVERED), ids(QUEUED)) == ([short.id], [done.id], [pending.id], [])
    assert control.get_command(alice, device.id, short.id).status == EXPIRED
    with pytest.raises(BadRequestError):
        control.list_commands(alice, device.id, PageRequest(), "lost")


def test_a_command_is_found_only_under_its_own_device(control, repo, alice, device):
    other = keyholders.create(repo, DEVICE, alice, {"name": "lamp"})
    command = control.send_command(alice, device.id, {"name": "reboot"})
    with pytest.raises(NotFoundError):
        control.get_command(alice, other.id, command.id)
    with pytest.raises(NotFoundError):
        control.get_command(alice, device.id, "nope")


def test_filtered_command_pages_follow_their_cursor_to_every_match(control, store, clock, alice, device):
    sent = []
    for i in range(7):
        sent.append(control.send_command(alice, device.id, {"name": f"c{i}"}))
        clock.advance(1)
    for command in sent[::2]:
        store.update_command(command.id, lambda c: c.delivered(clock()))
    seen, cursor = [], None
    while True:
        page = control.list_commands(alice, device.id, PageRequest(limit=2, cursor=cursor), QUEUED)
        seen += [c.id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [c.id for c in reversed(sent[1::2])]


def test_every_device_reply_carries_its_status_and_the_list_filters_by_it(control, repo, store, clock, alice, admin):
    talking, connected, silent = (keyholders.create(repo, DEVICE, alice, {"name": n}) for n in ("a", "b", "c"))
    store.record_seen({talking.id: Sighting(alice.id, clock() - timedelta(seconds=200))})
    store.open_session(connected.id, alice.id, "i1/s1", "mqtt", clock() - timedelta(seconds=10))

    def listed(status, caller=alice):
        return {item["id"]: item["status"] for item in control.list_devices(caller, PageRequest(), None, status).items}

    everyone = listed(None)
    assert everyone[talking.id] == {"online": True, "connected": False, "protocols": [], "connected_since": None,
                                    "last_seen": "2026-12-01T11:56:40Z"}
    assert everyone[connected.id]["connected"] and everyone[connected.id]["protocols"] == ["mqtt"]
    assert everyone[silent.id] == {"online": False, "connected": False, "protocols": [], "connected_since": None,
                                   "last_seen": None}
    assert set(listed("online")) == {talking.id, connected.id} and set(listed("offline")) == {silent.id}
    clock.advance(300)  # past the online window of both; the session unrefreshed for more than 3 intervals
    assert set(listed("online", admin)) == set() and set(listed("offline")) == {talking.id, connected.id, silent.id}
    with pytest.raises(BadRequestError):
        control.list_devices(alice, PageRequest(), None, "sleeping")
