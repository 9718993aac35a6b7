"""gateway-mqtt end to end: paho-mqtt 3.1.1 and 5 over TCP and WebSocket, and mosquitto_pub, into Pub/Sub."""

import shutil
import subprocess
import threading

import orjson
import paho.mqtt.client as mqtt
import pytest

from infra.domain.rejections import REFUSAL_SCHEMA

pytestmark = pytest.mark.e2e

VERSIONS = {"3.1.1": mqtt.MQTTv311, "5": mqtt.MQTTv5}


class Device:
    """A paho client that records CONNACK, PUBACK reason codes and disconnects."""

    def __init__(self, port, token, *, version, transport="tcp"):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=VERSIONS[version],
                                  transport=transport)
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        self.client.username_pw_set("JWT", token)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connack = None
        self.disconnect_reason = None
        self.acks = {}
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda c, u, mid, rc, props: self.acks.__setitem__(mid, rc)
        self.client.on_disconnect = self._on_disconnect
        self.port = port

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = reason_code
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnect_reason = reason_code
        self.disconnected.set()

    def __enter__(self):
        self.client.reconnect_delay_set(60, 120)  # no quick automatic reconnects during a test
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(15), "no CONNACK"
        return self

    def __exit__(self, *exc):
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic, body, qos=1, timeout=15):
        info = self.client.publish(topic, orjson.dumps(body), qos=qos)
        if qos:
            info.wait_for_publish(timeout)
        return info


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_paho_publishes_arrive_once_each(gateways, seed, tap, version, transport):
    device = seed()
    port = gateways.mqtt_tcp_port if transport == "tcp" else gateways.mqtt_ws_port
    with Device(port, device.token, version=version, transport=transport) as client:
        assert not client.connack.is_failure
        one = client.publish(device.id, {"sensor_id": device.sensors["temp"], "timestamp": 1526717967, "value": 3})
        many = client.publish(f"devices/{device.id}/telemetry",
                              [{"sensor_id": device.sensors["door"], "value": False},
                               {"sensor_id": device.sensors["label"], "value": "x"}])
        client.publish(device.id, {"sensor_id": device.sensors["count"], "value": 9}, qos=0)
        assert one.is_published() and many.is_published()
        assert not client.acks[one.mid].is_failure and not client.acks[many.mid].is_failure
    messages = tap.messages(device.id, 3)
    records = sorted((r["type"], r["value"]) for m in messages for r in m["data"]["records"])
    assert records == [("boolean", False), ("double", 3.0), ("keyword", "x"), ("long", 9)]
    assert {m["attributes"]["gateway"] for m in messages} == {"mqtt"}
    assert len(tap.settle(device.id, wait=1)) == 3


@pytest.mark.parametrize("version, expected", [("3.1.1", "Bad user name or password"),
                                               ("5", "Bad user name or password")])
def test_a_bad_token_is_refused_at_connect(gateways, seed, version, expected):
    device = seed()
    client = Device(gateways.mqtt_tcp_port, device.token[:-4] + "AAAA", version=version)
    client.client.connect("127.0.0.1", gateways.mqtt_tcp_port)
    client.client.loop_start()
    try:
        assert client.connected.wait(15)
        assert client.connack.is_failure and str(client.connack) == expected
    finally:
        client.client.loop_stop()


def test_another_devices_topic_is_refused_with_mqtt5_reason(gateways, seed, tap):
    device, other = seed(), seed()
    with Device(gateways.mqtt_tcp_port, device.token, version="5") as client:
        info = client.publish(other.id, {"sensor_id": other.sensors["temp"], "value": 1})
        assert info.is_published()
        assert client.acks[info.mid].value == 0x87  # Not authorized
    assert tap.settle(other.id, wait=1.5) == []


def refusal_of(tap, device) -> dict:
    """The one message of ``device`` on the telemetry topic: the refusal the pipeline records (no readings)."""
    [message] = tap.settle(device.id, wait=1.5)
    assert message["attributes"] == {"device_id": device.id, "owner_id": device.owner_id, "gateway": "mqtt",
                                     "schema": REFUSAL_SCHEMA}
    return message["data"]


def test_an_invalid_payload_gets_payload_format_invalid(gateways, seed, tap):
    device = seed()
    with Device(gateways.mqtt_tcp_port, device.token, version="5") as client:
        info = client.publish(device.id, {"sensor_id": device.sensors["temp"], "value": "warm"})
        assert client.acks[info.mid].value == 0x99
        assert client.disconnect_reason is None  # not 0x89: the refusal is reported under the gateway's IAM
    refusal = refusal_of(tap, device)
    assert "warm" in refusal["reason"] and "warm" in refusal["sample"]


def test_mqtt311_acknowledges_an_invalid_payload_and_reports_why(gateways, seed, tap):
    device = seed()
    with Device(gateways.mqtt_tcp_port, device.token, version="3.1.1") as client:
        info = client.publish(device.id, [{"sensor_id": device.sensors["door"], "value": "ajar"}])
        assert info.is_published()  # a plain PUBACK: resending the same bad payload would never help
    refusal = refusal_of(tap, device)
    assert "record 0" in refusal["reason"] and refusal["device_id"] == device.id


def test_mosquitto_pub_publishes_with_qos1(gateways, seed, tap):
    assert shutil.which("mosquitto_pub"), "mosquitto-clients is installed by the Makefile"
    device = seed()
    for version in ("mqttv311", "mqttv5"):
        body = orjson.dumps({"sensor_id": device.sensors["count"], "value": 5}).decode()
        result = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(gateways.mqtt_tcp_port), "-V",
                                 version, "-q", "1", "-u", "JWT", "-P", device.token, "-t",
                                 f"devices/{device.id}/telemetry", "-m", body],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    messages = tap.messages(device.id, 2)
    assert [m["data"]["records"][0]["value"] for m in messages] == [5, 5]


def test_no_puback_when_pubsub_does_not_confirm(stack, seed, tap, dead_pubsub_env):
    stack.start_service("gateway-mqtt", key="gw-mqtt-dead-pubsub", extra_env=dead_pubsub_env)
    try:
        device = seed()
        with Device(stack.ports.for_process("gw-mqtt-dead-pubsub"), device.token, version="5",
                    transport="websockets") as client:
            info = client.client.publish(device.id, orjson.dumps({"sensor_id": device.sensors["temp"],
                                                                  "value": 1}), qos=1)
            assert client.disconnected.wait(30), "the gateway should drop the connection"
            assert client.disconnect_reason.value == 0x89  # Server busy: come back later
            assert info.mid not in client.acks  # never acknowledged: the device still holds the message
        assert tap.settle(device.id, wait=2) == []
    finally:
        stack.stop_service("gw-mqtt-dead-pubsub")
