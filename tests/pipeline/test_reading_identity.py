"""Two readings a device was told were accepted are two stored readings, on every protocol (issue 11).

Real processes: gateway-http, gateway-ws and gateway-mqtt with the default reading bounds, the Pub/Sub emulator's
push to the pipeline, the Elasticsearch stand-in.
"""

import subprocess
import time
from datetime import datetime, timezone

import orjson
import pytest
import requests
import websocket

from emulators.process import free_port
from infra.adapters.firestore_rejections import FirestoreRejections
from tests.pipeline.conftest import count_documents, envelope, telemetry, wait_for_points
from tests.support.tools import command

pytestmark = pytest.mark.e2e

ENV = {"IOT_INGEST_RATE": "1000", "IOT_INGEST_BURST": "1000"}  # default reading bounds


@pytest.fixture(scope="module")
def gateways(stack, pipeline):
    """One instance of each gateway with the default reading bounds: (http URL, ws URL, MQTT TCP port)."""
    mqtt_port = free_port()
    stack.start_service("gateway-http", key="id-gateway-http", extra_env=ENV)
    stack.start_service("gateway-ws", key="id-gateway-ws", extra_env=ENV)
    stack.start_service("gateway-mqtt", key="id-gateway-mqtt", extra_env={**ENV, "IOT_MQTT_TCP_PORT": str(mqtt_port)})
    yield stack.url("id-gateway-http"), stack.url("id-gateway-ws").replace("http://", "ws://"), mqtt_port
    for key in ("id-gateway-http", "id-gateway-ws", "id-gateway-mqtt"):
        stack.stop_service(key)


def post(url: str, token: str, body) -> requests.Response:
    return requests.post(url, data=orjson.dumps(body), timeout=15,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def test_http_readings_without_timestamps_are_all_stored_in_their_order(gateways, seed, pl_es):
    device = seed()
    temp = device.sensors["temp"]
    now = time.time()
    reply = post(gateways[0], device.token, [{"sensor_id": temp, "value": 1}, {"sensor_id": temp, "value": 2},
                                             {"sensor_id": temp, "timestamp": now - 60, "value": 3}])
    assert reply.status_code == 200 and reply.json() == {"accepted": 3, "replaced": 0}
    points = wait_for_points(pl_es, temp, "double", 3, order="asc")
    assert [p["value"] for p in points] == [3.0, 1.0, 2.0]  # the untimed ones at receipt, first sent first
    assert count_documents(pl_es, temp) == 3


def test_websocket_frames_without_timestamps_are_all_stored(gateways, seed, pl_es):
    device = seed()
    temp = device.sensors["temp"]
    ws = websocket.create_connection(gateways[1], header=[f"Authorization: Bearer {device.token}"], timeout=15)
    try:
        acks = []
        for frame in ([{"sensor_id": temp, "value": 1}, {"sensor_id": temp, "value": 2}], {"sensor_id": temp, "value": 3}):
            ws.send(orjson.dumps(frame).decode())
            acks.append(orjson.loads(ws.recv()))
    finally:
        ws.close()
    assert acks == [{"ok": True, "accepted": 2, "replaced": 0}, {"ok": True, "accepted": 1, "replaced": 0}]
    assert sorted(p["value"] for p in wait_for_points(pl_es, temp, "double", 3)) == [1.0, 2.0, 3.0]


def test_mosquitto_pub_readings_without_timestamps_are_all_stored(gateways, seed, pl_es):
    mosquitto_pub = command("mosquitto_pub", "apt-get install mosquitto-clients (the Makefile does)")
    device = seed()
    temp = device.sensors["temp"]
    payload = orjson.dumps([{"sensor_id": temp, "value": 1}, {"sensor_id": temp, "value": 2}]).decode()
    subprocess.run([mosquitto_pub, "-h", "127.0.0.1", "-p", str(gateways[2]), "-q", "1", "-u", "JWT",
                    "-P", device.token, "-t", f"devices/{device.id}/telemetry", "-m", payload],
                   check=True, timeout=30, capture_output=True)
    assert sorted(p["value"] for p in wait_for_points(pl_es, temp, "double", 2)) == [1.0, 2.0]


def test_the_same_sensor_and_time_twice_in_a_request_keeps_the_last_and_says_so(gateways, seed, pl_es):
    device = seed()
    temp = device.sensors["temp"]
    at = int(time.time()) - 30
    reply = post(gateways[0], device.token, [{"sensor_id": temp, "timestamp": at, "value": 1},
                                             {"sensor_id": temp, "timestamp": at * 1000, "value": 2}])
    assert reply.json() == {"accepted": 2, "replaced": 1}
    assert [p["value"] for p in wait_for_points(pl_es, temp, "double", 1)] == [2.0]
    time.sleep(1)  # nothing else arrives
    assert count_documents(pl_es, temp) == 1


@pytest.mark.parametrize("offset, message", [(-367 * 86400, "366 days before"), (2 * 86400, "1 day after")])
def test_readings_outside_the_default_bounds_are_refused_with_a_per_record_error(gateways, seed, offset, message):
    device = seed()
    temp = device.sensors["temp"]
    reply = post(gateways[0], device.token, [{"sensor_id": temp, "value": 1},
                                             {"sensor_id": temp, "timestamp": time.time() + offset, "value": 2}])
    assert reply.status_code == 422
    [detail] = reply.json()["error"]["details"]
    assert detail["index"] == 1 and detail["field"] == "timestamp" and message in detail["message"]


def test_a_request_spanning_more_than_three_months_is_refused(gateways, seed):
    device = seed()
    temp = device.sensors["temp"]
    today = datetime.now(timezone.utc)
    months = [(today.year * 12 + today.month - 1 - back) for back in range(5)]  # this month and the four before
    body = [{"sensor_id": temp, "timestamp": f"{m // 12:04d}-{m % 12 + 1:02d}-01T12:00:00Z", "value": i}
            for i, m in enumerate(months)]
    reply = post(gateways[0], device.token, body)
    assert reply.status_code == 422
    assert [(d["index"], d["field"]) for d in reply.json()["error"]["details"]] == [(3, "timestamp"), (4, "timestamp")]
    assert post(gateways[0], device.token, body[:3]).json() == {"accepted": 3, "replaced": 0}


def test_an_index_that_cannot_be_created_is_retried_not_rejected(pipeline, seed, pl_es, firestore_db):
    """The shard limit refuses a new monthly index: the push is answered 503 (Pub/Sub redelivers), and once the
    cluster has room the same message is indexed. Nothing becomes a rejection."""
    device = seed()
    temp = device.sensors["temp"]
    body = envelope(*telemetry(device, [{"sensor_id": temp, "type": "double",
                                         "timestamp": "2003-02-01T00:00:00Z", "value": 7.0}]))
    pl_es.options(ignore_status=404).indices.delete(index="telemetry-2003.02")
    pl_es.cluster.put_settings(persistent={"cluster.max_shards_per_node": max(1, _open_shards(pl_es))})
    try:
        refused = requests.post(f"{pipeline}/pubsub/push", data=body, timeout=60)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
    finally:
        pl_es.cluster.put_settings(persistent={"cluster.max_shards_per_node": None})
    assert requests.post(f"{pipeline}/pubsub/push", data=body, timeout=60).status_code == 204
    assert wait_for_points(pl_es, temp, "double", 1, start_ns=0)[0]["value"] == 7.0
    assert FirestoreRejections(firestore_db).list(device.owner_id, device.id) == []


def _open_shards(es) -> int:
    """Shards (primaries and replicas) of every index, as the shard limit counts them."""
    settings = es.indices.get_settings(index="*", expand_wildcards="all")
    return sum(int(s["settings"]["index"]["number_of_shards"]) * (1 + int(s["settings"]["index"]["number_of_replicas"]))
               for s in settings.values())
