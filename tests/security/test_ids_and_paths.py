"""Path traversal, encoded separators and odd ids in URLs and MQTT topics.

Ids are 12 lowercase hex characters the platform chose, checked for shape before any lookup, so nothing a
caller puts in a path segment can name a document path or another tenant's object. Requests are sent byte for
byte (http.client, no client-side normalisation of ``..`` or ``%2F``), by tenant A starting from its own ids and
aiming at B's: each gets the JSON 404 of an object or route that does not exist, never 2xx, never 5xx, and
nothing of B in the reply. A request line over gunicorn's 4,094 bytes is refused by gunicorn itself with 414.
Topics: only ``<own id>`` and ``devices/<own id>/telemetry`` are a device's; any other spelling is refused as
another device's topic (MQTT 5 PUBACK 0x87, 3.1.1 closed), wildcards or U+0000 are malformed (0x81) and an
empty topic a protocol error (0x82).
"""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import orjson
import pytest

from run.gateway_mqtt.codec import MQTT_3_1_1, MQTT_5, Connect, Disconnect, PubAck, Publish, encode
from tests.support.mqtt_peer import RawPeer

pytestmark = pytest.mark.e2e

# Path segments standing where an id goes; {a} and {b} are A's and B's object of that route.
SEGMENTS = [
    "..", "%2e%2e", ".%2e", "%2E%2E%2F{b}", "..%2F{b}", "{a}%2F..%2F{b}", "{a}%2f..%2f..%2f{b}", "{a}/../{b}",
    "{a}%2F%2E%2E%2F{b}", "%252e%252e%252f{b}", "..%5C{b}", "{a}%5C..%5C{b}", "{a};{b}", "{a},{b}", "{a}%00",
    "{a}%0A", "{a}%20", "{a}.json", "{b}%23", "*", "_all", "{A}", "%EF%BD%81" * 12, "%E2%80%AE{b}",
    "%C0%AE%C0%AE%C0%AF{b}", "a" * 3000,
]
# (route template with {id} for the attacked segment, what {a} and {b} are there)
ROUTES = [
    ("/api/devices/{id}", "device"),
    ("/api/devices/{id}/sensors", "device"),
    ("/api/devices/{id}/key", "device"),
    ("/api/devices/{a_device}/sensors/{id}", "sensor"),
    ("/api/consumers/{id}/sensors", "consumer"),
    ("/api/sensors/{id}/data", "sensor"),
]


def raw_get(base_url: str, path: str, token: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no dot-segment removal, no re-encoding)."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.putheader("Authorization", f"Bearer {token}")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _ids(tenant, kind: str) -> str:
    return {"device": tenant.device, "sensor": tenant.sensors["temp"], "consumer": tenant.consumer}[kind]


@pytest.mark.parametrize("segment", SEGMENTS, ids=[s[:24] for s in SEGMENTS])
@pytest.mark.parametrize("template, kind", ROUTES, ids=[t for t, _ in ROUTES])
def test_odd_ids_and_traversal_in_paths_find_nothing(services, world, template, kind, segment):
    a, b = world.a, world.b
    attacked = segment.format(a=_ids(a, kind), b=_ids(b, kind), A=_ids(a, kind).upper())
    path = template.format(id=attacked, a_device=a.device)
    status, body = raw_get(services.api, path, a.client.token)
    assert status == 404, (path, status, body[:200])
    assert orjson.loads(body)["error"]["code"] == "not_found"
    for secret in (b.device, b.consumer, *b.sensors.values(), b.user_id):
        assert secret.encode() not in body


def test_a_request_line_over_gunicorns_limit_is_414_and_the_api_keeps_serving(services, world):
    status, _ = raw_get(services.api, "/api/devices/" + "a" * 5000, world.a.client.token)
    assert status == 414
    status, body = raw_get(services.api, f"/api/devices/{world.a.device}", world.a.client.token)
    assert status == 200 and orjson.loads(body)["id"] == world.a.device


# ---- MQTT topics ---------------------------------------------------------------------------------------------

TOPICS = [
    "devices/{a}/../{b}/telemetry", "devices/{a}/telemetry/../../{b}/telemetry", "{a}/..", "{a}/../{b}",
    "devices/{a}%2Ftelemetry", "devices/{a}%2F..%2F{b}/telemetry", "devices//{a}/telemetry", "/devices/{a}/telemetry",
    "devices/{a}/telemetry/", "devices/{A}/telemetry", "{A}", "devices/{a}\u200b/telemetry", "devices/\uff41/telemetry",
    # a's own state and command results are its topics now (device control); another device's are not, and nobody
    # publishes desired state or commands
    "devices/{b}/state", "devices/{b}/commands/x/result", "devices/{a}/config", "devices/{a}/commands/x",
    "devices/{a}/telemetry/extra", "x" * 60_000,
]
MALFORMED = {"devices/+/telemetry": 0x81, "devices/#": 0x81, "+": 0x81, "#": 0x81, "devices/{a}~/telemetry": 0x81,
             "": 0x82}  # MQTT 5 DISCONNECT reason; "~" stands for U+0000, which encoders refuse to write


def _publish(port: int, version: int, token: str, topic: str):
    """Connect, publish one reading to ``topic`` with QoS 1; the gateway's answer (None: closed)."""
    peer = RawPeer(port, version)
    try:
        peer.send(Connect(f"topics-{time.time_ns()}", version, username="JWT", password=token.encode()))
        assert peer.receive().reason_code == 0
        peer.send(encode(Publish(topic, b'{"value": 1}', qos=1, packet_id=1), version).replace(b"~", b"\0"))
        return peer.receive()
    finally:
        peer.close()


@pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5], ids=["3.1.1", "5"])
@pytest.mark.parametrize("template", TOPICS + list(MALFORMED), ids=[t[:32] for t in TOPICS + list(MALFORMED)])
def test_only_the_devices_own_topics_are_its_own(services, world, version, template):
    a, b = world.a, world.b
    topic = template.format(a=a.device, b=b.device, A=a.device.upper())
    answer = _publish(services.mqtt_tcp_port, version, a.device_token, topic)
    if version == MQTT_3_1_1:
        assert answer is None  # closed, no PUBACK
    elif template in MALFORMED:
        assert isinstance(answer, Disconnect) and answer.reason_code == MALFORMED[template], answer
    else:
        assert isinstance(answer, PubAck) and answer.reason_code == 0x87, answer


def test_the_devices_own_topics_still_work(services, world):
    a = world.a
    body = orjson.dumps({"sensor_id": a.sensors["temp"], "value": 1})
    for topic in (a.device, f"devices/{a.device}/telemetry"):
        peer = RawPeer(services.mqtt_tcp_port, MQTT_5)
        try:
            peer.send(Connect(f"own-{time.time_ns()}", MQTT_5, username="JWT", password=a.device_token.encode()),
                      Publish(topic, body, qos=1, packet_id=1))
            assert peer.receive().reason_code == 0
            assert peer.receive() == PubAck(1, 0)
        finally:
            peer.close()
