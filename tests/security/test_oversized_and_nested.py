"""Oversized bodies and deeply nested JSON against the API and every gateway: refused with 400/413 (never a 500,
never a hang), and the process keeps serving the next request.

Limits: API bodies 1 MiB and 100 levels of nesting; ingestion bodies, frames and MQTT payloads 256 KiB
(``IOT_INGEST_MAX_BYTES``), a WebSocket frame over four times that closes the socket (1009), an MQTT packet over
the limit ends the connection (v5: DISCONNECT 0x95), a CONNECT over 16 KiB is never authenticated.
"""

from __future__ import annotations

import time

import orjson
import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as websocket_connect

from infra.web.app import MAX_BODY_BYTES, MAX_JSON_DEPTH
from run.gateway_mqtt.codec import MQTT_3_1_1, MQTT_5, Connect, Disconnect, PubAck, Publish, encode
from tests.support.mqtt_peer import RawPeer, RawWebSocketPeer

pytestmark = pytest.mark.e2e

INGEST_MAX_BYTES = 256 * 1024  # the default of IOT_INGEST_MAX_BYTES, which the services under attack run with
DEEP = 10_000


def _name_body(size: int) -> bytes:
    """A device-creation body of ``size`` bytes."""
    return b'{"name": "' + b"x" * (size - 12) + b'"}'


def _chunked(data: bytes, chunk: int = 64 * 1024):
    """``data`` as an iterator, so requests sends it with Transfer-Encoding: chunked and no length."""
    return (data[i:i + chunk] for i in range(0, len(data), chunk))


def _nested(depth: int) -> str:
    """A bool query nested ``depth`` times: 3 JSON levels each."""
    return '{"bool": {"must": [' * depth + '{"match_all": {}}' + "]}}" * depth


def _error(response: requests.Response) -> tuple[int, str]:
    error = response.json()["error"]
    return response.status_code, error["code"]


@pytest.fixture(scope="module")
def api_still_serves(services, world):
    """Check that the API answers a real request (after each attack)."""

    def check() -> None:
        assert world.a.client.get_device(world.a.device)["id"] == world.a.device

    return check


# ---- the API -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 3 * MAX_BODY_BYTES, 20 * MAX_BODY_BYTES])
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_api_bodies_over_the_limit_are_413(services, world, api_still_serves, size, chunked):
    body = _name_body(size)
    response = requests.post(f"{services.api}/api/devices", data=_chunked(body) if chunked else body, timeout=60,
                             headers={"Authorization": f"Bearer {world.a.client.token}",
                                      "Content-Type": "application/json"})
    assert _error(response) == (413, "too_large")
    api_still_serves()


def test_an_api_body_at_the_limit_is_read(services, world):
    response = world.a.client.request("POST", "/api/devices", data=_name_body(MAX_BODY_BYTES),
                                      headers={"Content-Type": "application/json"})
    assert _error(response) == (400, "invalid_field")  # read whole and parsed: the name is too long, not the body


def _api_cases(world) -> dict[str, tuple[str, str, str, tuple[int, str]]]:
    """name → (method, path, raw body, (status, code))."""
    a = world.a
    return {
        "10k-deep arrays": ("POST", "/api/devices", "[" * DEEP + "]" * DEEP, (400, "bad_request")),
        "10k-deep objects": ("POST", "/api/devices", '{"a": ' * DEEP + "1" + "}" * DEEP, (400, "bad_request")),
        "one level too deep": ("POST", "/api/devices",
                               '{"name": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}", (400, "bad_request")),
        "deep sign-in": ("POST", "/api/users/signin", "[" * DEEP, (400, "bad_request")),
        "deep PATCH": ("PATCH", f"/api/devices/{a.device}", '{"name": ' + "[" * 500 + "]" * 500 + "}",
                       (400, "bad_request")),
        "mapping string 10k deep": ("POST", f"/api/devices/{a.device}/sensors",
                                    orjson.dumps({"name": "s", "mapping": "[" * DEEP + "]" * DEEP}).decode(),
                                    (400, "invalid_mapping")),
        "grant body 10k deep": ("POST", f"/api/consumers/{a.consumer}/sensors", "[" * DEEP, (400, "bad_request")),
        "proxy query 300 bools deep": ("POST", f"/api/consumers/consume/{a.sensors['temp']}/_search",
                                       '{"query": ' + _nested(300) + "}", (400, "bad_request")),
        "proxy count 40 bools deep": ("POST", f"/api/consumers/consume/{a.sensors['temp']}/_count",
                                      '{"query": ' + _nested(40) + "}", (400, "bad_request")),
    }


CASES = ("10k-deep arrays", "10k-deep objects", "one level too deep", "deep sign-in", "deep PATCH",
         "mapping string 10k deep", "grant body 10k deep", "proxy query 300 bools deep", "proxy count 40 bools deep")


@pytest.mark.parametrize("case", CASES)
def test_deeply_nested_json_on_the_api_is_a_400(services, world, api_still_serves, case):
    method, path, body, expected = _api_cases(world)[case]
    token = world.a.consumer_token if "/consume/" in path else world.a.client.token
    response = requests.request(method, services.api + path, data=body, timeout=30,
                                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert _error(response) == expected, response.text
    api_still_serves()


# ---- gateway-http ----------------------------------------------------------------------------------------------

def _ingest(services, token: str, data, content_type: str = "application/json") -> requests.Response:
    return requests.post(services.http, data=data, timeout=60,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})


@pytest.fixture(scope="module")
def http_still_serves(services, world):
    def check() -> None:
        good = orjson.dumps({"sensor_id": world.a.sensors["temp"], "value": 1})
        assert _ingest(services, world.a.device_token, good).json()["accepted"] == 1

    return check


@pytest.mark.parametrize("size", [INGEST_MAX_BYTES + 1, 8 * INGEST_MAX_BYTES])
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_gateway_http_bodies_over_the_limit_are_413(services, world, http_still_serves, size, chunked):
    body = b"[" + b" " * (size - 2) + b"]"
    response = _ingest(services, world.a.device_token, _chunked(body) if chunked else body)
    assert _error(response) == (413, "too_large")
    http_still_serves()


@pytest.mark.parametrize("body, expected", [
    ("[" * DEEP + "]" * DEEP, (400, "bad_request")),
    ('{"sensor_id": "s", "value": ' + "[" * DEEP + "]" * DEEP + "}", (400, "bad_request")),
    ("[" * 1000 + "]" * 1000, (422, "invalid")),  # parsed, but a record must be an object
], ids=["10k-deep arrays", "10k-deep value", "1000-deep arrays"])
def test_gateway_http_refuses_deeply_nested_json(services, world, http_still_serves, body, expected):
    assert _error(_ingest(services, world.a.device_token, body)) == expected
    http_still_serves()


def test_gateway_http_refuses_a_deep_value_inside_a_record(services, world, http_still_serves):
    body = '{"sensor_id": "%s", "value": %s}' % (world.a.sensors["label"], "[" * 1000 + "]" * 1000)
    response = _ingest(services, world.a.device_token, body)
    assert _error(response) == (422, "invalid")
    assert response.json()["error"]["details"][0]["field"] == "value"
    http_still_serves()


# ---- gateway-ws --------------------------------------------------------------------------------------------------

def _socket(services, world):
    """A WebSocket of A's device without compression (a compressed frame inflating past the limit closes the socket:
    tests/gateways/test_gateway_ws_bounds.py)."""
    return websocket_connect(services.ws, additional_headers={"Authorization": f"Bearer {world.a.device_token}"},
                             open_timeout=15, max_size=None, compression=None)


def test_gateway_ws_answers_oversized_and_deep_frames_and_keeps_the_socket(services, world):
    good = orjson.dumps({"sensor_id": world.a.sensors["temp"], "value": 1}).decode()
    frames = {"over the limit": ("[" + " " * INGEST_MAX_BYTES + "]", (413, "too_large")),
              "10k deep": ("[" * DEEP + "]" * DEEP, (400, "bad_request"))}
    with _socket(services, world) as ws:
        for frame, (status, code) in frames.values():
            ws.send(frame)
            ack = orjson.loads(ws.recv(timeout=15))
            assert (ack["ok"], ack["status"], ack["error"]["code"]) == (False, status, code)
        ws.send(good)
        assert orjson.loads(ws.recv(timeout=15))["ok"] is True


def test_gateway_ws_closes_a_socket_that_sends_a_frame_over_four_times_the_limit(services, world):
    with _socket(services, world) as ws:
        ws.send("[" + " " * (4 * INGEST_MAX_BYTES + 1) + "]")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
        assert closed.value.rcvd.code == 1009
    with _socket(services, world) as ws:  # the gateway itself serves on
        ws.send(orjson.dumps({"sensor_id": world.a.sensors["temp"], "value": 1}).decode())
        assert orjson.loads(ws.recv(timeout=15))["ok"] is True


# ---- gateway-mqtt ------------------------------------------------------------------------------------------------

def _connected(peer_class, port: int, version: int, token: str):
    peer = peer_class(port, version)
    peer.send(Connect(f"bounds-{time.time_ns()}", version, username="JWT", password=token.encode()))
    assert peer.receive().reason_code == 0
    return peer


def _mqtt_still_serves(services, world) -> None:
    peer = _connected(RawPeer, services.mqtt_tcp_port, MQTT_5, world.a.device_token)
    try:
        peer.send(Publish(world.a.device, orjson.dumps({"sensor_id": world.a.sensors["temp"], "value": 1}), qos=1,
                          packet_id=1))
        assert peer.receive() == PubAck(1, 0)
    finally:
        peer.close()


@pytest.mark.parametrize("transport", ["tcp", "websocket"])
@pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5], ids=["3.1.1", "5"])
def test_gateway_mqtt_refuses_a_deeply_nested_payload(services, world, version, transport):
    peer_class, port = (RawPeer, services.mqtt_tcp_port) if transport == "tcp" else \
        (RawWebSocketPeer, services.mqtt_ws_port)
    peer = _connected(peer_class, port, version, world.a.device_token)
    try:
        peer.send(Publish(world.a.device, b"[" * DEEP + b"]" * DEEP, qos=1, packet_id=1))
        ack = peer.receive()
    finally:
        peer.close()
    # v5: payload format invalid; 3.1.1 cannot refuse a publish: acknowledged, recorded as a rejection, not stored
    assert ack == PubAck(1, 0x99 if version == MQTT_5 else 0, ack.properties)
    _mqtt_still_serves(services, world)


@pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5], ids=["3.1.1", "5"])
def test_gateway_mqtt_ends_a_connection_that_announces_an_oversized_packet(services, world, version):
    peer = _connected(RawPeer, services.mqtt_tcp_port, version, world.a.device_token)
    try:
        packet = encode(Publish(world.a.device, b"x" * (INGEST_MAX_BYTES + 4096), qos=1, packet_id=1), version)
        peer.send(packet[:64])  # the fixed header announces the size: the gateway need not read the rest
        answer = peer.receive()
    finally:
        peer.close()
    if version == MQTT_5:
        assert isinstance(answer, Disconnect) and answer.reason_code == 0x95  # packet too large
    else:
        assert answer is None
    _mqtt_still_serves(services, world)


def test_gateway_mqtt_never_authenticates_an_oversized_connect(services, world):
    peer = RawPeer(services.mqtt_tcp_port, MQTT_5)
    try:
        connect = Connect("big", MQTT_5, username="JWT", password=world.a.device_token.encode() + b"x" * 20_000)
        peer.send(encode(connect, MQTT_5)[:64])
        answer = peer.receive()
    finally:
        peer.close()
    assert answer is None or (isinstance(answer, Disconnect) and answer.reason_code == 0x95), answer
    _mqtt_still_serves(services, world)
