"""Desired state and commands over MQTT through two real gateway-mqtt instances, with paho-mqtt (5 and 3.1.1),
mosquitto_sub/mosquitto_pub and raw packets: config on subscribe and on change, a command delivered once with its
PUBACK marking it delivered and its result recorded, offline and expired commands, SUBSCRIBE refusals, and a v5
session resumed within its expiry (unacknowledged commands resent with DUP)."""

from __future__ import annotations

import queue
import subprocess
import time

import pytest

from emulators.api_client import ApiClient
from emulators.control_clients import MqttDevice
from emulators.process import wait_until
from run.gateway_mqtt.codec import MQTT_3_1_1, MQTT_5, Connect, Properties, SubAck, Subscribe, Subscription
from tests.support.mqtt_peer import RawPeer

pytestmark = pytest.mark.e2e


@pytest.fixture
def mqtt_device(device, mqtt_gateways):
    """Make paho devices of ``device`` on instance ``index``; closed after the test."""
    made = []

    def make(index: int = 0, **options) -> MqttDevice:
        host, port = mqtt_gateways[index]
        made.append(MqttDevice(host, port, device.id, device.key, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


def topics(device_id: str) -> tuple[str, str]:
    return f"devices/{device_id}/config", f"devices/{device_id}/commands/#"


def test_config_is_delivered_on_subscribe_and_on_change(owner, device, mqtt_device):
    owner.set_desired(device.id, {"rate": 5})
    client = mqtt_device(0)
    assert client.connect() == (0, False)
    assert client.subscribe(*topics(device.id)) == [1, 1]
    first = client.next()
    assert (first.topic, first.body, first.qos) == (f"devices/{device.id}/config",
                                                   {"version": 1, "desired": {"rate": 5}}, 1)
    owner.set_desired(device.id, {"rate": 6})
    assert client.next().body == {"version": 2, "desired": {"rate": 6}}
    assert client.report({"rate": 6}) == 0
    assert owner.twin(device.id)["delta"] == {}


def test_a_command_reaches_instance_b_once_its_puback_delivers_it_and_its_result_is_recorded(owner, device,
                                                                                             mqtt_device, second_api):
    client = mqtt_device(1)
    client.connect()
    assert client.subscribe(*topics(device.id)) == [1, 1]
    assert client.next().body == {"version": 0, "desired": {}}  # on subscribe, even before the owner set one
    command = ApiClient(second_api, owner.token).send_command(device.id, "reboot", {"delay": 5})  # any API instance
    message = client.next()
    assert (message.topic, message.body["id"], message.body["payload"]) == (f"devices/{device.id}/commands/reboot",
                                                                            command["id"], {"delay": 5})
    wait_until(lambda: owner.command(device.id, command["id"])["status"] == "delivered", timeout=10,
               what="the PUBACK marking the command delivered")
    assert client.answer(command["id"], "succeeded", {"uptime": 3}) == 0
    shown = owner.command(device.id, command["id"])
    assert (shown["status"], shown["result"]) == ("succeeded", {"uptime": 3})
    assert client.answer("nope", "succeeded") == 0x99  # v5: refused with its reason, the connection stays
    with pytest.raises(queue.Empty):
        client.next(timeout=0.5)  # delivered once


def test_a_command_to_an_offline_device_arrives_on_subscribe_and_an_expired_one_never(owner, device, mqtt_device):
    expired = owner.send_command(device.id, "old", ttl=1)
    time.sleep(1.2)
    waiting = owner.send_command(device.id, "blink")
    client = mqtt_device(0, version=4)
    client.connect()
    assert client.subscribe(f"devices/{device.id}/commands/+", qos=0) == [0]
    message = client.next()
    assert (message.body["id"], message.qos) == (waiting["id"], 0)
    wait_until(lambda: owner.command(device.id, waiting["id"])["status"] == "delivered", timeout=10,
               what="a QoS 0 command marked delivered as it is sent")
    with pytest.raises(queue.Empty):
        client.next(timeout=0.5)
    assert owner.command(device.id, expired["id"])["status"] == "expired"


@pytest.mark.parametrize("version, refused", [(MQTT_3_1_1, 0x80), (MQTT_5, 0x87)])
def test_only_the_devices_own_config_and_commands_may_be_subscribed_to(owner, device, mqtt_gateways, version,
                                                                        refused):
    other = owner.create_device("other")["id"]
    filters = [f"devices/{device.id}/config", f"devices/{device.id}/commands/#", f"devices/{other}/config",
               f"devices/{other}/commands/#", f"devices/{device.id}/telemetry", "devices/+/config", "#",
               f"devices/{device.id}/#"]
    peer = RawPeer(mqtt_gateways[0][1], version)
    try:
        peer.send(Connect("raw", version, username="JWT", password=device.key.encode()))
        assert peer.receive().reason_code == 0
        peer.send(Subscribe(1, tuple(Subscription(f, qos=1) for f in filters)))
        suback = peer.receive()
        while not isinstance(suback, SubAck):  # the config published at once may come first
            suback = peer.receive()
    finally:
        peer.close()
    assert suback.reason_codes == (1, 1) + (refused,) * 6


def test_mosquitto_clients_take_a_command_and_answer_it(owner, device, mqtt_gateways):
    host, port = mqtt_gateways[1]
    auth = ["-h", host, "-p", str(port), "-u", "JWT", "-P", device.key]
    sub = subprocess.Popen(["mosquitto_sub", *auth, "-i", "sub-" + device.id, "-q", "1", "-C", "1", "-W", "20",
                            "-t", f"devices/{device.id}/commands/#"], stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: owner.get_device(device.id)["status"]["connected"], timeout=10,
                   what="mosquitto_sub connected")
        time.sleep(0.3)  # connected is recorded at CONNECT; let its SUBSCRIBE arrive too
        command = owner.send_command(device.id, "ping", {"n": 1})
        out, _ = sub.communicate(timeout=25)
    finally:
        if sub.poll() is None:
            sub.kill()
    assert command["id"] in out
    subprocess.run(["mosquitto_pub", *auth, "-i", "pub-" + device.id, "-q", "1", "-t",
                    f"devices/{device.id}/commands/{command['id']}/result", "-m", '{"status": "succeeded"}'],
                   check=True, timeout=20)
    assert owner.command(device.id, command["id"])["status"] == "succeeded"


def test_a_v5_session_resumes_within_its_expiry_with_unacknowledged_commands_resent(owner, device, mqtt_gateways):
    port = mqtt_gateways[0][1]
    connect = Connect("keeper", MQTT_5, clean_start=False, username="JWT", password=device.key.encode(),
                      properties=Properties(session_expiry_interval=60))
    first = RawPeer(port, MQTT_5)
    first.send(connect)
    assert first.receive().session_present is False
    first.send(Subscribe(1, (Subscription(f"devices/{device.id}/commands/#", qos=1),)))
    assert first.receive().reason_codes == (1,)
    command = owner.send_command(device.id, "reboot")
    pushed = first.receive()
    assert (pushed.dup, command["id"].encode() in pushed.payload) == (False, True)
    first.close()  # no PUBACK: the command stays queued
    assert owner.command(device.id, command["id"])["status"] == "queued"
    later = owner.send_command(device.id, "later")
    second = RawPeer(port, MQTT_5)
    try:
        second.send(connect)
        assert second.receive().session_present is True  # its subscription survived: no SUBSCRIBE needed
        again = second.receive()
        assert (again.dup, again.packet_id, command["id"].encode() in again.payload) == (True, pushed.packet_id, True)
        fresh = second.receive()
        assert later["id"].encode() in fresh.payload and not fresh.dup
    finally:
        second.close()
