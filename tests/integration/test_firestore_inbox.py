"""Nudges through the gateway instances' inboxes (infra.adapters.firestore_inbox) on the Firestore emulator: a nudge
lands in exactly the inboxes named, with its expiry; a listener hands each one on (those waiting before it started
too), deletes it, and takes nothing once stopped; a nudge that cannot be written is a ``PublishError``."""

from __future__ import annotations

import queue
import time
from datetime import datetime, timezone

import pytest
from google.cloud import firestore

from emulators.process import free_port
from infra.adapters.firestore_inbox import NUDGE_RETENTION, FirestoreInbox, InboxListener, Nudge, inbox
from infra.domain.ports import PublishError
from run.services import CONTROL_DATABASE
from tests.support.names import unique

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def documents(client, instance: str) -> list[dict]:
    return [snapshot.to_dict() for snapshot in inbox(client, instance).stream()]


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_a_nudge_lands_in_each_named_inbox_and_no_other(control_db):
    a, b, other = unique("gw-a"), unique("gw-b"), unique("gw-c")
    FirestoreInbox(control_db, clock=lambda: T0).nudge([a, b], "config", "d1", {"version": 2, "desired": {"": 1}})
    expected = {"device_id": "d1", "kind": "config", "payload": '{"version":2,"desired":{"":1}}',
                "purge_at": T0 + NUDGE_RETENTION}
    assert documents(control_db, a) == documents(control_db, b) == [expected]
    assert documents(control_db, other) == []


def test_a_listener_hands_on_each_nudge_deletes_it_and_stops(control_db):
    instance, bus, received = unique("gw"), FirestoreInbox(control_db), queue.Queue()
    bus.nudge([instance], "command", "d1", {"command": {"id": "c1"}})  # waiting before the listener starts
    listener = InboxListener(control_db, instance, received.put)
    listener.start()
    try:
        assert received.get(timeout=10) == Nudge("command", "d1", {"command": {"id": "c1"}})
        bus.nudge([instance], "config", "d2", {"version": 1, "desired": {}})
        assert received.get(timeout=10) == Nudge("config", "d2", {"version": 1, "desired": {}})
        assert wait_until(lambda: documents(control_db, instance) == [])
    finally:
        listener.stop()
    assert not listener.running
    bus.nudge([instance], "command", "d1", {"command": {"id": "c2"}})
    time.sleep(0.5)  # a running listener takes a nudge in well under this (20-60 ms on the emulator)
    assert received.empty() and len(documents(control_db, instance)) == 1


def test_a_nudge_that_cannot_be_written_is_a_publish_error(stack, monkeypatch):
    """Firestore unreachable: the API's caller logs it (infra.usecases.control), the command stays stored."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nothing listens there
    client = firestore.Client(project=stack.project, database=CONTROL_DATABASE)
    try:
        with pytest.raises(PublishError):
            FirestoreInbox(client).nudge(["gw"], "command", "d1", {"command": {"id": "c1"}})
    finally:
        client.close()


def test_nudges_are_handed_on_in_the_order_they_were_written(control_db):
    instance, bus, received = unique("gw"), FirestoreInbox(control_db), queue.Queue()
    ids = [f"c{n}" for n in range(8)]
    for command_id in ids:  # all waiting before the listener starts: they arrive in one snapshot
        bus.nudge([instance], "command", "d1", {"command": {"id": command_id}})
    listener = InboxListener(control_db, instance, received.put)
    listener.start()
    try:
        assert [received.get(timeout=10).body["command"]["id"] for _ in ids] == ids
    finally:
        listener.stop()
