"""Tenant B aims at tenant A's ids: on every management route, on the data API, and from a device's payloads.

On the API, another tenant's object is answered exactly as an object that does not exist (same status, code and
message), so ids cannot be probed for existence, and a refused write changes nothing. A device names sensors and
topics only of its own: B's sensors in A's device's readings are 422 (MQTT 5: PUBACK 0x99; 3.1.1: acknowledged
and recorded as a rejection, as any invalid payload), B's topic is refused (MQTT 5: 0x87; 3.1.1: connection
closed), and no payload field can claim another identity.

That B gets 404 on every route (and the admin 200) is also one column of tests/api/test_authorization_matrix.py.
"""

from __future__ import annotations

import secrets
import time

import orjson
import pytest
import requests
import websocket

from run.gateway_mqtt.codec import MQTT_3_1_1, MQTT_5, Connect, Disconnect, PubAck, Publish, SubAck, Subscribe, \
    Subscription
from tests.support.mqtt_peer import RawPeer

pytestmark = pytest.mark.e2e

# (method, path, body) with placeholders for A's ids; B sends them.
ROUTES = [
    ("GET", "/api/devices/{device}", None),
    ("PATCH", "/api/devices/{device}", {"name": "taken over"}),
    ("DELETE", "/api/devices/{device}", None),
    ("GET", "/api/devices/{device}/key", None),
    ("POST", "/api/devices/{device}/key/rotate", None),
    ("GET", "/api/devices/{device}/tree", None),
    ("GET", "/api/devices/{device}/rejections", None),
    ("GET", "/api/devices/{device}/sensors", None),
    ("POST", "/api/devices/{device}/sensors", {"name": "implant", "mapping": {"type": "double"}}),
    ("GET", "/api/devices/{device}/sensors/{sensor}", None),
    ("PATCH", "/api/devices/{device}/sensors/{sensor}", {"path": ["moved"]}),
    ("DELETE", "/api/devices/{device}/sensors/{sensor}", None),
    ("GET", "/api/devices/{own_device}/sensors/{sensor}", None),  # A's sensor under B's own device
    ("GET", "/api/consumers/{consumer}", None),
    ("PATCH", "/api/consumers/{consumer}", {"name": "taken over"}),
    ("DELETE", "/api/consumers/{consumer}", None),
    ("GET", "/api/consumers/{consumer}/key", None),
    ("POST", "/api/consumers/{consumer}/key/rotate", None),
    ("GET", "/api/consumers/{consumer}/sensors", None),
    ("POST", "/api/consumers/{consumer}/sensors", {"sensor_id": "{own_sensor}"}),
    ("POST", "/api/consumers/{own_consumer}/sensors", {"sensor_id": "{sensor}"}),  # A's sensor to B's consumer
    ("DELETE", "/api/consumers/{consumer}/sensors/{sensor}", None),
    ("GET", "/api/sensors/{sensor}/data", None),
    ("GET", "/api/users/{user}", None),  # admin only: 403 whether or not the user exists
]


def _fill(template, ids: dict[str, str]):
    if isinstance(template, dict):
        return {name: _fill(value, ids) for name, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, ids) for value in template]
    return template.format(**ids) if isinstance(template, str) else template


def _snapshot(tenant) -> tuple:
    """What B's refused writes must leave unchanged: A's device (key version included), sensors, consumer, grants."""
    client = tenant.client
    return (client.get_device(tenant.device), client.list_sensors(tenant.device), client.get_consumer(tenant.consumer),
            client.granted_sensors(tenant.consumer))


@pytest.mark.parametrize("method, template, body", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_another_tenants_ids_are_answered_as_if_they_did_not_exist(world, method, template, body):
    a, b = world.a, world.b
    theirs = {"device": a.device, "sensor": a.sensors["temp"], "consumer": a.consumer, "user": a.user_id}
    missing = {name: secrets.token_hex(6) for name in theirs}
    own = {"own_device": b.device, "own_sensor": b.sensors["temp"], "own_consumer": b.consumer}
    before = _snapshot(a)
    attacked = b.client.request(method, _fill(template, {**theirs, **own}), json=_fill(body, {**theirs, **own}))
    absent = b.client.request(method, _fill(template, {**missing, **own}), json=_fill(body, {**missing, **own}))
    expected = 403 if template.startswith("/api/users/") else 404
    assert attacked.status_code == expected, attacked.text
    assert (attacked.status_code, attacked.json()) == (absent.status_code, absent.json())
    assert _snapshot(a) == before


def test_another_tenants_consumer_is_refused_as_for_a_sensor_that_does_not_exist(services, world):
    url = f"{services.api}/api/sensors/{{}}/data"
    headers = {"Authorization": f"Bearer {world.b.consumer_token}"}
    attacked = requests.get(url.format(world.a.sensors["temp"]), headers=headers, timeout=15)
    absent = requests.get(url.format(secrets.token_hex(6)), headers=headers, timeout=15)
    assert (attacked.status_code, attacked.json()["error"]["code"]) == (403, "not_granted")
    assert attacked.json() == absent.json()


# ---- device payloads -----------------------------------------------------------------------------------------

def _payloads(world) -> dict[str, object]:
    a, b = world.a, world.b
    own = {"sensor_id": a.sensors["temp"], "value": 1}
    return {
        "another tenant's sensor": {"sensor_id": b.sensors["temp"], "value": 1},
        "one of them in a batch": [own, {"sensor_id": b.sensors["label"], "value": "x"}],
        "claims another device": {**own, "device_id": b.device},
        "claims another owner": {**own, "owner_id": b.user_id},
    }


PAYLOADS = ("another tenant's sensor", "one of them in a batch", "claims another device", "claims another owner")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_gateway_http_refuses_readings_for_another_tenant(services, world, payload):
    body = _payloads(world)[payload]
    response = requests.post(services.http, json=body, headers={"Authorization": f"Bearer {world.a.device_token}"},
                             timeout=15)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid"), response.text
    if payload == "another tenant's sensor":  # told as for a sensor that does not exist: nothing to probe
        absent = requests.post(services.http, json={**body, "sensor_id": "0" * 12},
                               headers={"Authorization": f"Bearer {world.a.device_token}"}, timeout=15)
        assert response.text.replace(body["sensor_id"], "0" * 12) == absent.text


@pytest.mark.parametrize("payload", PAYLOADS)
def test_gateway_ws_refuses_readings_for_another_tenant(services, world, payload):
    ws = websocket.create_connection(services.ws, timeout=15, header=[f"Authorization: Bearer {world.a.device_token}"])
    try:
        ws.send(orjson.dumps(_payloads(world)[payload]).decode())
        ack = orjson.loads(ws.recv())
    finally:
        ws.close()
    assert (ack["ok"], ack["status"], ack["error"]["code"]) == (False, 422, "invalid")


def _mqtt(port: int, version: int, token: str, *packets):
    """Connect with ``token``, send ``packets`` one by one; return the answer to each (None: connection closed)."""
    peer = RawPeer(port, version)
    try:
        peer.send(Connect(f"tenant-{time.time_ns()}", version, username="JWT", password=token.encode()))
        assert peer.receive().reason_code == 0
        answers = []
        for packet in packets:
            peer.send(packet)
            answers.append(peer.receive())
        return answers
    finally:
        peer.close()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_gateway_mqtt5_refuses_readings_for_another_tenant(services, world, payload):
    body = orjson.dumps(_payloads(world)[payload])
    [ack] = _mqtt(services.mqtt_tcp_port, MQTT_5, world.a.device_token, Publish(world.a.device, body, qos=1,
                                                                                 packet_id=1))
    assert isinstance(ack, PubAck) and ack.reason_code == 0x99  # payload format invalid


def test_gateway_mqtt311_acknowledges_but_records_readings_for_another_tenant(services, world):
    a, b = world.a, world.b
    marker = f"intruder-{time.time_ns()}"
    body = orjson.dumps([{"sensor_id": b.sensors["label"], "value": marker}])
    [ack] = _mqtt(services.mqtt_tcp_port, MQTT_3_1_1, a.device_token, Publish(a.device, body, qos=1, packet_id=1))
    assert isinstance(ack, PubAck) and ack.reason_code == 0  # 3.1.1 cannot say no; resending would not help
    # The gateway reported the refusal on Pub/Sub; the pipeline records it for A, a moment later.
    deadline, rejections = time.monotonic() + 30, []
    while not rejections and time.monotonic() < deadline:
        time.sleep(0.2)
        rejections = a.client.call("GET", f"/api/devices/{a.device}/rejections")["items"]
    assert any(marker in r["sample"] and b.sensors["label"] in r["reason"] for r in rejections), rejections
    assert b.client.call("GET", f"/api/devices/{b.device}/rejections")["items"] == []


@pytest.mark.parametrize("form", ["{device}", "devices/{device}/telemetry"])
@pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5], ids=["3.1.1", "5"])
def test_gateway_mqtt_refuses_a_publish_to_another_devices_topic(services, world, version, form):
    a, b = world.a, world.b
    body = orjson.dumps({"sensor_id": b.sensors["temp"], "value": 1})
    topic = form.format(device=b.device)
    answers = _mqtt(services.mqtt_tcp_port, version, a.device_token, Publish(topic, body, qos=1, packet_id=1),
                    *([Publish(topic, body, qos=0)] if version == MQTT_5 else []))
    if version == MQTT_5:  # QoS 1: PUBACK not authorized, still connected; QoS 0: nothing else could tell
        assert isinstance(answers[0], PubAck) and answers[0].reason_code == 0x87
        assert isinstance(answers[1], Disconnect) and answers[1].reason_code == 0x87
    else:
        assert answers == [None]  # closed without a PUBACK [MQTT-3.3.5-2]


@pytest.mark.parametrize("version, refused", [(MQTT_3_1_1, 0x80), (MQTT_5, 0x87)], ids=["3.1.1", "5"])
def test_gateway_mqtt_refuses_subscribing_to_another_devices_topics(services, world, version, refused):
    b = world.b
    filters = (f"devices/{b.device}/#", f"devices/{b.device}/config", "devices/+/telemetry", "#")
    [ack] = _mqtt(services.mqtt_tcp_port, version, world.a.device_token,
                  Subscribe(1, tuple(Subscription(f) for f in filters)))
    assert isinstance(ack, SubAck) and ack.reason_codes == (refused,) * len(filters)
