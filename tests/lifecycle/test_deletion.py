"""Deletion that deletes: a deleted sensor's, device's or user's readings leave Elasticsearch through a durable task
the pipeline's tick works through (also across a restart of the pipeline); late readings are refused or dropped."""

import time

import pytest
import requests

from emulators.api_client import ApiError
from tests.lifecycle.conftest import PIPELINE_ENV, count, send, tick, wait_until_counted
from tests.pipeline.conftest import envelope

pytestmark = pytest.mark.e2e

BASE = 1_764_300_000  # 2025-11-28T03:20:00Z
GRACE = 2.0  # two cache lifetimes of the services under test (IOT_REVOCATION_CACHE_TTL=1)


def _device_with_readings(services, lc_es, owner, sensors=("a", "b"), readings=3):
    device = owner.create_device("lifecycle")
    made = {name: owner.create_sensor(device["id"], name, {"type": "double"})["id"] for name in sensors}
    key = owner.device_key(device["id"])["token"]
    records = [{"sensor_id": sensor_id, "timestamp": BASE + i, "value": i}
               for sensor_id in made.values() for i in range(readings)]
    assert send(services, key, records).status_code == 200
    for sensor_id in made.values():
        wait_until_counted(lc_es, "sensor_id", sensor_id, readings)
    return device, made, key


def _tick_until_done(services, client, deletion_id, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while (task := client.deletion(deletion_id))["state"] != "done":
        assert time.monotonic() < deadline, task
        tick(services, "deletions")
        time.sleep(0.3)
    return task


def test_a_deleted_sensor_s_readings_are_erased_and_new_ones_refused(services, lc_es, new_user, admin):
    owner = new_user()
    device, sensors, key = _device_with_readings(services, lc_es, owner)
    deleted_at = time.monotonic()
    task = owner.delete_sensor(device["id"], sensors["a"])
    assert task["state"] == "pending" and task["kind"] == "sensor" and task["target_id"] == sensors["a"]
    tick(services, "deletions")
    if time.monotonic() - deleted_at < GRACE:  # within the grace nothing is erased yet
        assert owner.deletion(task["id"])["attempts"] == 0
    assert task["id"] in {t["id"] for t in admin.open_deletions()}  # admins see every pending deletion
    assert [t["id"] for t in owner.open_deletions()] == [task["id"]]

    # The gateway refuses readings of the deleted sensor once its cache (1 s) forgot it.
    deadline = time.monotonic() + 10
    while (refused := send(services, key, [{"sensor_id": sensors["a"], "value": 1}])).status_code != 422:
        assert time.monotonic() < deadline, refused.text
        time.sleep(0.3)

    done = _tick_until_done(services, owner, task["id"])
    # at least the three sent before; readings the gateway still accepted within its cache's second count too
    assert done["completed_at"] and done["erased"] >= 3
    assert count(lc_es, "sensor_id", sensors["a"]) == 0
    assert count(lc_es, "sensor_id", sensors["b"]) == 3  # the device's other sensor keeps its readings
    assert owner.open_deletions() == []


def test_a_deletion_survives_a_restart_of_the_pipeline(stack, services, lc_es, new_user):
    owner = new_user()
    device, sensors, _ = _device_with_readings(services, lc_es, owner)
    task = owner.delete_device(device["id"])
    assert task["kind"] == "device" and task["state"] == "pending"
    time.sleep(GRACE)
    tick(services, "deletions")  # starts erasing: the task now names the store's task
    assert owner.deletion(task["id"])["attempts"] >= 1

    stack.stop_service("pipeline")
    stack.start_service("pipeline", extra_env=PIPELINE_ENV)

    _tick_until_done(services, owner, task["id"])
    assert all(count(lc_es, "sensor_id", sensor_id) == 0 for sensor_id in sensors.values())


def test_deleting_a_user_erases_everything_it_owned(services, lc_es, new_user, admin):
    owner = new_user()
    _, first, _ = _device_with_readings(services, lc_es, owner, sensors=("x",))
    _, second, _ = _device_with_readings(services, lc_es, owner, sensors=("y",))
    task = admin.delete_user(owner.user["id"])
    assert task["kind"] == "user" and task["owner_id"] == owner.user["id"]
    with pytest.raises(ApiError) as info:  # its owner is gone: only admins can follow it now
        owner.deletion(task["id"])
    assert info.value.status == 401
    _tick_until_done(services, admin, task["id"])
    assert count(lc_es, "owner_id", owner.user["id"]) == 0


def test_the_pipeline_drops_late_readings_of_a_deleted_sensor(services, lc_es, new_user):
    owner = new_user()
    device, sensors, _ = _device_with_readings(services, lc_es, owner, readings=1)
    owner.delete_sensor(device["id"], sensors["a"])
    time.sleep(GRACE)  # the pipeline's view of the deletions is at most a second old
    # A message a gateway accepted before the deletion, redelivered by Pub/Sub only now.
    late = {"device_id": device["id"], "owner_id": owner.user["id"], "received_at": "2025-11-28T03:20:00Z",
            "gateway": "http", "records": [
                {"sensor_id": sensors["a"], "type": "double", "timestamp": "2025-11-28T03:30:00.000000000Z",
                 "value": 1.0},
                {"sensor_id": sensors["b"], "type": "double", "timestamp": "2025-11-28T03:30:00.000000000Z",
                 "value": 2.0}]}
    attributes = {"device_id": device["id"], "owner_id": owner.user["id"], "gateway": "http",
                  "schema": "telemetry/v1"}
    reply = requests.post(f"{services['pipeline']}/pubsub/push", data=envelope(late, attributes), timeout=30)
    assert reply.status_code == 204
    wait_until_counted(lc_es, "sensor_id", sensors["b"], 2)  # the other sensor's reading is stored...
    lc_es.indices.refresh(index="telemetry")
    found = lc_es.search(index="telemetry", query={"term": {"sensor_id": sensors["a"]}}, size=10)["hits"]["hits"]
    assert [hit["_source"]["@timestamp"] for hit in found] == ["2025-11-28T03:20:00.000000000Z"]  # ...not this one
