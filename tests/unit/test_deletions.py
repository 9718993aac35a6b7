"""Deletion tasks: the worker's steps (grace, erase, follow, check, again), errors kept for the next tick, the
pipeline's tombstones, and the delete use cases requesting the erasure before the metadata goes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from infra.domain.deletions import DONE, PENDING, new_deletion
from infra.domain.errors import NotFoundError, ServiceUnavailableError, StoreUnavailableError
from infra.domain.model import User
from infra.usecases.deletions import DeletionRequests, DeletionWorker, Tombstones, visible_deletion

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
OWNER = User(id="owner1", username="owner", name="Owner", role="user", created_at=T0, updated_at=T0)
ADMIN = User(id="admin1", username="root", name="Root", role="admin", created_at=T0, updated_at=T0)


class Store:
    """An in-memory DeletionStore."""

    def __init__(self):
        self.items = {}
        self.fail = False

    def add(self, deletion):
        self.items[deletion.id] = deletion

    save = add

    def discard(self, deletion_id):
        self.items.pop(deletion_id, None)

    def get(self, deletion_id):
        return self.items.get(deletion_id)

    def open_deletions(self, owner_id=None, limit=100):
        return sorted((d for d in self.items.values() if d.open and owner_id in (None, d.owner_id)),
                      key=lambda d: d.requested_at)[:limit]

    def requested_since(self, since):
        if self.fail:
            raise RuntimeError("firestore down")
        return [d for d in self.items.values() if d.requested_at >= since]


class Eraser:
    """Readings per (field, value); a started task finishes when ``finish`` is called."""

    def __init__(self, readings):
        self.readings = dict(readings)
        self.tasks = {}
        self.started = 0
        self.down = False

    def start(self, field, value):
        if self.down:
            raise StoreUnavailableError("down")
        self.started += 1
        task = f"t{self.started}"
        self.tasks[task] = (field, value, False)
        return task

    def finish(self, task):
        field, value, _ = self.tasks[task]
        self.readings[(field, value)] = 0
        self.tasks[task] = (field, value, True)

    def finished(self, task):
        return self.tasks[task][2] if task in self.tasks else None

    def remaining(self, field, value):
        if self.down:
            raise StoreUnavailableError("down")
        return self.readings.get((field, value), 0)


def _worker(store, eraser, now):
    return DeletionWorker(store, eraser, clock=lambda: now[0])


def test_a_task_waits_out_its_grace_then_erases_follows_and_finishes():
    store, eraser, now = Store(), Eraser({("sensor_id", "s1"): 5}), [T0]
    deletion = DeletionRequests(store, timedelta(seconds=120), clock=lambda: T0).request("sensor", "s1", OWNER.id,
                                                                                      OWNER)
    worker = _worker(store, eraser, now)
    assert worker.tick()["open"] == [deletion.id] and eraser.tasks == {}  # still in its grace
    now[0] = T0 + timedelta(seconds=121)
    worker.tick()
    assert store.get(deletion.id).es_task == "t1" and store.get(deletion.id).attempts == 1
    worker.tick()  # the store's task still runs: nothing new starts
    assert list(eraser.tasks) == ["t1"]
    eraser.finish("t1")
    assert worker.tick()["finished"] == [deletion.id]
    done = store.get(deletion.id)
    assert done.state == DONE and done.erased == 5 and done.completed_at == now[0] and done.purge_at() > now[0]


def test_readings_left_after_an_erase_start_another_and_a_forgotten_task_is_started_again():
    store, eraser, now = Store(), Eraser({("device_id", "d1"): 2}), [T0 + timedelta(hours=1)]
    store.add(new_deletion("device", "d1", OWNER.id, OWNER.id, T0, timedelta(0)))
    worker = _worker(store, eraser, now)
    worker.tick()
    eraser.tasks["t1"] = ("device_id", "d1", True)  # finished, yet a straggler arrived meanwhile
    worker.tick()
    assert store.open_deletions()[0].es_task == "t2" and store.open_deletions()[0].attempts == 2
    del eraser.tasks["t2"]  # the store restarted and forgot the task
    worker.tick()
    assert store.open_deletions()[0].es_task == "t3"


def test_a_store_outage_is_kept_on_the_task_and_retried():
    store, eraser, now = Store(), Eraser({("owner_id", "o1"): 1}), [T0 + timedelta(hours=1)]
    store.add(new_deletion("user", "o1", "o1", ADMIN.id, T0, timedelta(0)))
    eraser.down = True
    assert _worker(store, eraser, now).tick()["failing"]
    assert store.open_deletions()[0].last_error and store.open_deletions()[0].state == PENDING
    eraser.down = False
    _worker(store, eraser, now).tick()
    assert store.open_deletions()[0].last_error is None and store.open_deletions()[0].es_task


def test_tombstones_drop_the_covered_records_and_fail_closed():
    store, clock = Store(), [0.0]
    tombstones = Tombstones(store, ttl=1, clock=lambda: clock[0], wall=lambda: T0)
    meta = {"device_id": "d1", "owner_id": "o1"}
    records = [{"sensor_id": "s1"}, {"sensor_id": "s2"}]
    assert tombstones.keep(meta, records) == records
    store.add(new_deletion("sensor", "s1", "o1", "o1", T0, timedelta(0)))
    assert tombstones.keep(meta, records) == records  # cached for a second
    clock[0] = 1.0
    assert tombstones.keep(meta, records) == [{"sensor_id": "s2"}]
    store.add(new_deletion("device", "d1", "o1", "o1", T0, timedelta(0)))
    clock[0] = 2.0
    assert tombstones.keep(meta, records) == []
    assert tombstones.keep({"device_id": "d2", "owner_id": "o1"}, records) == [{"sensor_id": "s2"}]
    store.fail, clock[0] = True, 3.0
    with pytest.raises(ServiceUnavailableError):
        tombstones.keep(meta, records)


def test_only_its_owner_and_admins_see_a_task():
    store = Store()
    deletion = new_deletion("sensor", "s1", OWNER.id, OWNER.id, T0, timedelta(0))
    store.add(deletion)
    assert visible_deletion(store, OWNER, deletion.id) == deletion
    assert visible_deletion(store, ADMIN, deletion.id) == deletion
    with pytest.raises(NotFoundError):
        visible_deletion(store, replace(OWNER, id="other"), deletion.id)


def test_the_delete_use_cases_request_the_erasure(repo, admin, alice):
    from infra.usecases import accounts, keyholders, sensors

    store = Store()
    erasures = DeletionRequests(store, timedelta(seconds=2))
    device = keyholders.create(repo, "device", alice, {"name": "d"})
    sensor = sensors.add_sensor(repo, alice, device.id, {"name": "s", "mapping": {"type": "double"}})
    assert sensors.delete_sensor(repo, alice, device.id, sensor.id, erasures).value == sensor.id
    assert keyholders.delete(repo, "device", alice, device.id, erasures).kind == "device"
    consumer = keyholders.create(repo, "consumer", alice, {"name": "c"})
    assert keyholders.delete(repo, "consumer", alice, consumer.id, erasures) is None  # no readings to erase
    assert accounts.delete_user(repo, admin, alice.id, erasures).value == alice.id
    assert sorted((d.kind, d.owner_id) for d in store.items.values()) == [
        ("device", alice.id), ("sensor", alice.id), ("user", alice.id)]


def test_a_delete_that_fails_discards_its_erasure(repo, alice):
    from infra.usecases import keyholders, sensors

    store = Store()
    erasures = DeletionRequests(store, timedelta(seconds=2))
    device = keyholders.create(repo, "device", alice, {"name": "d"})
    sensor = sensors.add_sensor(repo, alice, device.id, {"name": "s", "mapping": {"type": "double"}})

    def broken(sensor_id):
        raise RuntimeError("firestore down")

    repo.delete_sensor = broken
    with pytest.raises(RuntimeError):
        sensors.delete_sensor(repo, alice, device.id, sensor.id, erasures)
    assert store.items == {}  # the sensor still exists: its readings must stay, and stay indexed

