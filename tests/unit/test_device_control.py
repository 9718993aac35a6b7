"""The device's side of device control (infra.usecases.device_control, infra.usecases.desired_watch) on the
in-memory store: its twin, polling and answering commands (only its own), and the long poll of the desired state."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest

from infra.domain.control import DELIVERED, FAILED, QUEUED, SUCCEEDED, new_command, new_command_id
from infra.domain.errors import BadRequestError, ConflictError, NotFoundError, PayloadTooLargeError
from infra.usecases.desired_watch import DesiredWatch
from infra.usecases.device_control import DeviceControl
from tests.support.clocks import T0, ManualClock
from tests.support.fakes import InMemoryControl


@dataclass(frozen=True)
class Device:
    id: str
    owner_id: str = "o1"


ME, OTHER = Device("d1"), Device("d2")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store() -> InMemoryControl:
    return InMemoryControl()


@pytest.fixture
def device_control(store, clock) -> DeviceControl:
    return DeviceControl(store, watch=DesiredWatch(store, interval=0.01), clock=clock)


def queue(store, device=ME, *, ttl=60, at=T0, name="reboot"):
    command = new_command(new_command_id(at), device.id, device.owner_id, {"name": name, "ttl": ttl}, at)
    store.create_command(command)
    return command


def test_the_desired_state_is_empty_at_version_0_until_set(device_control, store):
    assert device_control.desired(ME).config() == {"version": 0, "desired": {}}
    store.update_twin(ME.id, ME.owner_id, lambda t: t.with_desired({"rate": 5}, T0))
    assert device_control.desired(ME).config() == {"version": 1, "desired": {"rate": 5}}


def test_reports_merge_into_the_reported_state(device_control):
    device_control.report(ME, {"rate": 5, "fw": "1.0", "led": {"on": True}})
    twin = device_control.report(ME, {"fw": None, "led": {"color": "red"}})
    assert (twin.reported, twin.reported_version) == ({"rate": 5, "led": {"on": True, "color": "red"}}, 2)
    for bad, error in (([1], BadRequestError), ({"x": "y" * 9000}, PayloadTooLargeError)):
        with pytest.raises(error):
            device_control.report(ME, bad)
    assert device_control.desired(ME).reported_version == 2


def test_a_poll_hands_out_unexpired_unanswered_commands_oldest_first_and_marks_them_delivered(device_control, store,
                                                                                               clock):
    expired = queue(store, ttl=5)
    first = queue(store, at=T0 + timedelta(seconds=1))
    second = queue(store, at=T0 + timedelta(seconds=2))
    answered = queue(store, at=T0 + timedelta(seconds=3))
    store.update_command(answered.id, lambda c: c.finished(SUCCEEDED, T0))
    queue(store, OTHER)
    clock.advance(10)
    polled = device_control.poll_commands(ME)
    assert [(c.id, c.status) for c in polled] == [(first.id, DELIVERED), (second.id, DELIVERED)]
    assert store.get_command(first.id).delivered_at == clock() and store.get_command(expired.id).status == QUEUED
    assert [c.id for c in device_control.poll_commands(ME)] == [first.id, second.id]  # until answered


def test_a_device_answers_its_command_once_and_repeats_of_the_same_answer_are_harmless(device_control, store):
    command = queue(store)
    done = device_control.answer(ME, command.id, {"status": "succeeded", "result": {"uptime": 3}})
    assert (done.status, done.result, done.delivered_at) == (SUCCEEDED, {"uptime": 3}, T0)
    assert device_control.answer(ME, command.id, {"status": "succeeded", "result": {"uptime": 3}}) == done
    with pytest.raises(ConflictError) as caught:
        device_control.answer(ME, command.id, {"status": "failed", "error": "late"})
    assert caught.value.code == "command_closed" and store.get_command(command.id) == done


@pytest.mark.parametrize("body", [{"status": "done"}, {"status": "failed", "error": 5}, {"status": "failed", "x": 1},
                                  ["succeeded"]])
def test_a_malformed_answer_is_refused(device_control, store, body):
    command = queue(store)
    with pytest.raises(BadRequestError):
        device_control.answer(ME, command.id, body)
    assert store.get_command(command.id).status == QUEUED


def test_an_expired_command_takes_no_answer(device_control, store, clock):
    command = queue(store, ttl=5)
    clock.advance(6)
    with pytest.raises(ConflictError):
        device_control.answer(ME, command.id, {"status": "failed", "error": "too late"})
    with pytest.raises(ConflictError):
        device_control.deliver(ME, command.id)


def test_a_device_cannot_touch_another_devices_command(device_control, store):
    theirs = queue(store, OTHER)
    for attempt in (lambda: device_control.deliver(ME, theirs.id),
                    lambda: device_control.answer(ME, theirs.id, {"status": "failed", "error": "x"}),
                    lambda: device_control.answer(ME, "nope", {"status": "failed"})):
        with pytest.raises(NotFoundError):
            attempt()
    assert store.get_command(theirs.id) == theirs
    device_control.answer(OTHER, theirs.id, {"status": "failed", "error": "x"})
    assert store.get_command(theirs.id).status == FAILED


def test_a_long_poll_returns_at_once_unless_the_device_has_the_current_version(device_control, store):
    store.update_twin(ME.id, ME.owner_id, lambda t: t.with_desired({"rate": 5}, T0))
    assert device_control.wait_for_desired(ME, None, 30).desired_version == 1
    assert device_control.wait_for_desired(ME, 0, 30).desired_version == 1
    assert device_control.watch.waiting == 0


def test_a_long_poll_wakes_when_the_desired_state_changes_or_ends_with_the_current_one(device_control, store):
    store.update_twin(ME.id, ME.owner_id, lambda t: t.with_desired({"rate": 5}, T0))
    assert device_control.wait_for_desired(ME, 1, 0.05).desired_version == 1  # nothing new within the wait
    changer = threading.Timer(0.05, lambda: store.update_twin(ME.id, ME.owner_id,
                                                              lambda t: t.with_desired({"rate": 6}, T0)))
    changer.start()
    twin = device_control.wait_for_desired(ME, 1, 10)
    changer.join()
    assert twin.config() == {"version": 2, "desired": {"rate": 6}}
    assert device_control.watch.waiting == 0


def test_notify_wakes_waiters_at_once():
    store = InMemoryControl()
    watch = DesiredWatch(store, interval=60)  # no re-read would come in time
    store.update_twin(ME.id, ME.owner_id, lambda t: t.with_desired({"rate": 5}, T0))
    twin = store.update_twin(ME.id, ME.owner_id, lambda t: t.with_desired({"rate": 6}, T0))
    waiting = threading.Thread(target=lambda: results.append(watch.wait(ME.id, 1, 30)))
    results = []
    waiting.start()
    while watch.waiting == 0:
        threading.Event().wait(0.005)
    watch.notify(twin)
    waiting.join(10)
    assert results == [twin]
