"""The gateway over real sockets: paho-mqtt 2.2 and mosquitto_pub over TCP and WebSocket against ``serve``."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as websocket_connect

from run.gateway_mqtt.codec import MQTT_3_1_1, MQTT_5, ConnAck, Connect, Decoder, Properties, PubAck, Publish, encode
from run.gateway_mqtt.protocol import Limits
from tests.support.tools import command

ROOT = Path(__file__).resolve().parents[2]
PEERS = pytest.mark.parametrize("version, transport", [
    (MQTT_3_1_1, "tcp"), (MQTT_5, "tcp"), (MQTT_3_1_1, "websockets"), (MQTT_5, "websockets")])
WAIT = 10.0
MOSQUITTO_CLIENTS = "the Makefile installs it (apt-get install -y mosquitto-clients)"


@PEERS
def test_paho_publishes_qos0_and_qos1(paho_peer, sink, version, transport):
    peer = paho_peer(version, transport)
    assert peer.connect().value == 0
    peer.publish("dev1", b'{"sensor_id": "1", "value": 1}', qos=0)
    mid = peer.publish("devices/dev1/telemetry", b'{"sensor_id": "1", "value": 2}', qos=1)
    assert peer.wait_ack(mid) == 0
    assert sorted(sink.wait_records(2)) == [("dev1", b'{"sensor_id": "1", "value": 1}'),
                                           ("dev1", b'{"sensor_id": "1", "value": 2}')]


@PEERS
def test_puback_arrives_only_after_the_sink_finished(paho_peer, sink, version, transport):
    peer = paho_peer(version, transport)
    peer.connect()
    sink.hold()
    mid = peer.publish("dev1", b'{"value": 42}', qos=1)
    sink.wait_started(1)
    # A SUBACK round trip: anything the gateway sent before it has arrived by the time it returns.
    peer.subscribe("dev1/commands")
    assert mid not in peer.acks and sink.records == []
    sink.release()
    assert peer.wait_ack(mid) == 0
    assert sink.records == [("dev1", b'{"value": 42}')]


@pytest.mark.parametrize("version, expected", [
    (MQTT_3_1_1, b"\x20\x02\x00\x04"),
    (MQTT_5, encode(ConnAck(0x86, properties=Properties(
        reason_string="bad user name or password")), MQTT_5)),
])
def test_bad_password_gets_the_exact_connack_code(raw_peer, version, expected):
    peer = raw_peer(version)
    peer.send(Connect("c1", version, username="JWT", password=b"not-a-token"))
    assert peer.receive_bytes() == expected


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
@pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5])
def test_paho_sees_bad_user_name_or_password(paho_peer, sink, version, transport):
    peer = paho_peer(version, transport, password="forged")
    # paho reports the 3.1.1 return code 4 as its MQTT 5 equivalent, 0x86.
    assert peer.connect().value == 0x86
    assert sink.started == 0


def test_a_foreign_topic_gets_puback_not_authorized_in_v5(paho_peer, sink):
    peer = paho_peer(MQTT_5, "tcp")
    peer.connect()
    assert peer.wait_ack(peer.publish("devices/dev2/telemetry", b"{}", qos=1)) == 0x87
    assert peer.wait_ack(peer.publish("dev1", b"{}", qos=1)) == 0  # still connected
    assert sink.records == [("dev1", b"{}")]


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
def test_a_foreign_topic_closes_a_3_1_1_connection(paho_peer, sink, transport):
    peer = paho_peer(MQTT_3_1_1, transport)
    peer.connect()
    mid = peer.publish("dev2", b"{}", qos=1)
    peer.wait_disconnect()
    assert mid not in peer.acks and sink.started == 0


@PEERS
def test_subscribe_is_refused(paho_peer, version, transport):
    peer = paho_peer(version, transport)
    peer.connect()
    assert peer.subscribe("devices/+/telemetry") == [0x80 if version == MQTT_3_1_1 else 0x87]


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_publishes_qos1(gateway, sink, version):
    mosquitto_pub = command("mosquitto_pub", MOSQUITTO_CLIENTS)
    result = subprocess.run(
        [mosquitto_pub, "-h", "127.0.0.1", "-p", str(gateway.tcp_port), "-V", version, "-q", "1",
         "-u", "JWT", "-P", "ok-dev7", "-i", f"mp-{version}", "-t", "devices/dev7/telemetry",
         "-m", '{"sensor_id": "4", "value": "91827364"}'],
        capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert sink.records == [("dev7", b'{"sensor_id": "4", "value": "91827364"}')]


def test_mosquitto_pub_with_a_bad_password_fails(gateway, sink):
    mosquitto_pub = command("mosquitto_pub", MOSQUITTO_CLIENTS)
    result = subprocess.run(
        [mosquitto_pub, "-h", "127.0.0.1", "-p", str(gateway.tcp_port), "-q", "1", "-u", "JWT", "-P", "nope",
         "-t", "dev7", "-m", "{}"], capture_output=True, text=True, timeout=WAIT)
    assert result.returncode != 0 and sink.started == 0


# --- the WebSocket listener -----------------------------------------------------------------------

def test_healthz_answers_ok(gateway):
    client = http.client.HTTPConnection("127.0.0.1", gateway.ws_port, timeout=WAIT)
    client.request("GET", "/healthz")
    response = client.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read()) == {"status": "ok"}
    client.close()


@pytest.mark.parametrize("path", ["/", "/other", "/mqtt/x"])
def test_a_websocket_to_another_path_is_not_found(gateway, path):
    with pytest.raises(InvalidStatus) as refused:
        websocket_connect(f"ws://127.0.0.1:{gateway.ws_port}{path}", subprotocols=["mqtt"], open_timeout=WAIT)
    assert refused.value.response.status_code == 404


@pytest.mark.parametrize("subprotocols", [None, ["wamp"]])
def test_a_websocket_without_the_mqtt_subprotocol_is_refused(gateway, subprotocols):
    with pytest.raises(InvalidStatus) as refused:
        websocket_connect(f"ws://127.0.0.1:{gateway.ws_port}/mqtt", subprotocols=subprotocols, open_timeout=WAIT)
    assert refused.value.response.status_code == 400


def test_websocket_frames_may_split_and_join_packets(gateway, sink):
    wire = (encode(Connect("ws1", MQTT_5, username="JWT", password=b"ok-dev3"), MQTT_5)
            + encode(Publish("dev3", b"a", 1, 1), MQTT_5) + encode(Publish("dev3", b"b", 1, 2), MQTT_5))
    decoder = Decoder(MQTT_5)
    received = []
    with websocket_connect(f"ws://127.0.0.1:{gateway.ws_port}/mqtt", subprotocols=["mqtt"],
                           open_timeout=WAIT) as websocket:
        assert websocket.subprotocol == "mqtt"
        websocket.send(wire[:3])  # a CONNECT across two frames
        websocket.send(wire[3:])  # the rest of it and two PUBLISHes in one frame
        while len(received) < 3:
            decoder.feed(websocket.recv(timeout=WAIT))
            received.extend(decoder)
    assert received[0].reason_code == 0
    assert sorted(ack.packet_id for ack in received[1:]) == [1, 2]
    assert all(isinstance(ack, PubAck) and ack.reason_code == 0 for ack in received[1:])
    assert sorted(sink.records) == [("dev3", b"a"), ("dev3", b"b")]


def test_a_text_frame_ends_the_connection(gateway):
    with websocket_connect(f"ws://127.0.0.1:{gateway.ws_port}/mqtt", subprotocols=["mqtt"],
                           open_timeout=WAIT) as websocket:
        websocket.send(encode(Connect("t", MQTT_5, password=b"ok-dev1"), MQTT_5))
        assert websocket.recv(timeout=WAIT)[:1] == b"\x20"
        websocket.send("not binary")
        with pytest.raises(ConnectionClosed):
            while True:
                websocket.recv(timeout=WAIT)


# --- bounds, timers, take-over ----------------------------------------------------------------------

@pytest.mark.parametrize("limits", [Limits(max_connections=1, overflow_connections=1)])
def test_connections_beyond_the_bound_are_refused_busy_then_dropped(gateway, paho_peer, raw_peer):
    assert paho_peer(MQTT_5, "tcp").connect().value == 0
    busy = raw_peer(MQTT_5)
    dropped = raw_peer(MQTT_3_1_1)
    assert dropped.receive_bytes() == b""  # no room even to say busy
    busy.send(Connect("c2", MQTT_5, password=b"ok-dev2"))
    assert busy.receive() == ConnAck(0x89, properties=Properties(
        reason_string="server busy, try again later"))


@pytest.mark.parametrize("limits", [Limits(receive_maximum=2)])
def test_a_client_beyond_the_in_flight_bound_is_slowed_down_not_dropped(raw_peer, sink):
    peer = raw_peer(MQTT_5)
    peer.send(Connect("c1", MQTT_5, password=b"ok-dev1"))
    assert peer.receive().properties.receive_maximum == 2
    sink.hold()
    payload = b"x" * 1000  # 100 kB in all: fits the socket buffers while the gateway does not read
    for packet_id in range(1, 101):  # far more than the bound, in many TCP writes
        peer.send(Publish("dev1", payload, 1, packet_id))
    sink.wait_started(2)
    sink.release()
    acks = [peer.receive() for _ in range(100)]
    assert sorted(ack.packet_id for ack in acks) == list(range(1, 101))
    assert len(sink.wait_records(100)) == 100


@pytest.mark.parametrize("limits", [Limits(connect_timeout=0.3)])
def test_a_silent_connection_is_closed_after_the_connect_timeout(raw_peer):
    assert raw_peer(MQTT_3_1_1).receive_bytes() == b""


@pytest.mark.parametrize("limits", [Limits(max_pending_per_address=2, connect_timeout=60)])
def test_connections_awaiting_connect_are_bounded_per_client_address(raw_peer):
    first, second = raw_peer(MQTT_5), raw_peer(MQTT_5)
    first.send(Connect("c1", MQTT_5, password=b"ok-dev1"))
    assert first.receive().reason_code == 0  # past CONNECT: it no longer counts
    third = raw_peer(MQTT_5)
    assert raw_peer(MQTT_5).receive_bytes() == b""  # second and third are awaiting CONNECT: dropped at once
    for peer, client_id in ((second, "c2"), (third, "c3")):
        peer.send(Connect(client_id, MQTT_5, password=b"ok-dev1"))
        assert peer.receive().reason_code == 0


@pytest.mark.parametrize("limits, trusted_proxy_hops", [(Limits(max_pending_per_address=1), 1)])
def test_over_websocket_the_client_address_is_the_trusted_forwarded_one(gateway):
    url = f"ws://127.0.0.1:{gateway.ws_port}/mqtt"

    def open_from(address: str):
        return websocket_connect(url, subprotocols=["mqtt"], open_timeout=WAIT,
                                 additional_headers={"X-Forwarded-For": f"6.6.6.6, {address}"})

    with open_from("10.0.0.1"), open_from("10.0.0.2") as other, open_from("10.0.0.1") as excess:
        with pytest.raises(ConnectionClosed) as dropped:
            excess.recv(timeout=WAIT)
        assert dropped.value.rcvd.code == 1013
        other.send(encode(Connect("w2", MQTT_5, password=b"ok-dev2"), MQTT_5))
        assert other.recv(timeout=WAIT)[:1] == b"\x20"  # the other address was admitted


@pytest.mark.parametrize("limits", [Limits(max_connections=4, connect_timeout=60, connect_timeout_under_pressure=0.3)])
def test_under_pressure_silent_connections_get_the_short_connect_timeout(raw_peer):
    early = raw_peer(MQTT_5)  # alone it would have 60 s
    others = [raw_peer(MQTT_5) for _ in range(2)]  # three of four slots: more than half are taken
    assert [peer.receive_bytes() for peer in (early, *others)] == [b"", b"", b""]


@pytest.mark.parametrize("limits", [Limits(max_connect_packet_size=1024, max_packet_size=64 * 1024)])
def test_websocket_frames_before_connect_are_held_to_the_connect_limit(gateway, sink):
    url = f"ws://127.0.0.1:{gateway.ws_port}/mqtt"
    with websocket_connect(url, subprotocols=["mqtt"], open_timeout=WAIT) as websocket:
        websocket.send(b"\x10" + b"\x00" * 2047)  # 2 KiB before any CONNECT
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=WAIT)
        assert closed.value.rcvd.code == 1009
    with websocket_connect(url, subprotocols=["mqtt"], open_timeout=WAIT, max_size=None) as websocket:
        websocket.send(encode(Connect("w1", MQTT_5, password=b"ok-dev1"), MQTT_5))
        assert websocket.recv(timeout=WAIT)[:1] == b"\x20"
        websocket.send(encode(Publish("dev1", b"x" * 20_000, 1, 1), MQTT_5))  # past CONNECT, the full size
        assert websocket.recv(timeout=WAIT) == encode(PubAck(1), MQTT_5)
    assert sink.records == [("dev1", b"x" * 20_000)]


def test_an_expiring_token_ends_the_connection_with_maximum_connect_time(paho_peer, authenticator):
    authenticator.expires_at["dev1"] = time.time() + 0.5
    peer = paho_peer(MQTT_5, "tcp")
    assert peer.connect().value == 0
    assert peer.wait_disconnect() == 0xA0


def test_the_same_device_and_client_id_takes_over(paho_peer):
    first = paho_peer(MQTT_5, "tcp", client_id="sensor-box")
    other_device = paho_peer(MQTT_5, "tcp", client_id="sensor-box", password="ok-dev2")
    assert first.connect().value == 0 and other_device.connect().value == 0
    second = paho_peer(MQTT_5, "websockets", client_id="sensor-box")
    assert second.connect().value == 0
    assert first.wait_disconnect() == 0x8E
    assert other_device.disconnect_code is None
    assert second.wait_ack(second.publish("dev1", b"{}")) == 0


# --- shutdown -------------------------------------------------------------------------------------

def test_shutdown_finishes_publishes_in_flight_then_disconnects(gateway, paho_peer, sink):
    v5 = paho_peer(MQTT_5, "tcp")
    v3 = paho_peer(MQTT_3_1_1, "websockets", password="ok-dev2")
    idle = paho_peer(MQTT_5, "websockets", password="ok-dev3")
    for peer in (v5, v3, idle):
        peer.connect()
    sink.hold()
    mids = v5.publish("dev1", b"one", qos=1), v3.publish("dev2", b"two", qos=1)
    sink.wait_started(2)
    shutdown = gateway.start_shutdown()
    assert idle.wait_disconnect() == 0x8B  # nothing in flight: told at once
    assert not shutdown.done()
    sink.release()
    assert v5.wait_ack(mids[0]) == 0 and v3.wait_ack(mids[1]) == 0
    assert v5.wait_disconnect() == 0x8B
    v3.wait_disconnect()
    shutdown.result(WAIT)
    assert sorted(sink.records) == [("dev1", b"one"), ("dev2", b"two")]


@pytest.mark.parametrize("limits", [Limits(shutdown_grace=0.2)])
def test_shutdown_grace_is_bounded(gateway, paho_peer, sink):
    peer = paho_peer(MQTT_5, "tcp")
    peer.connect()
    sink.hold()
    mid = peer.publish("dev1", b"stuck", qos=1)
    sink.wait_started(1)
    gateway.start_shutdown().result(WAIT)
    assert peer.wait_disconnect() == 0x8B and mid not in peer.acks


def test_sigterm_lets_publishes_in_flight_finish_and_exits_0(paho_peers):
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("gateway_process.py"))],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        ports = json.loads(process.stdout.readline())
        peer = paho_peers(ports["tcp"], MQTT_5, "tcp")
        assert peer.connect().value == 0
        mid = peer.publish("dev1", b"{}", qos=1)
        assert process.stdout.readline().strip() == "started"
        process.send_signal(signal.SIGTERM)
        process.stdin.write("release\n")
        process.stdin.flush()
        assert peer.wait_ack(mid) == 0
        assert peer.wait_disconnect() == 0x8B
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
