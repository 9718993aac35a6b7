"""Device control in the sans-IO connection (with a ``DeviceChannel``): which filters a device may subscribe to, the
config and commands it is sent (once, QoS 0 or 1, PUBACK marking delivery, the in-flight bound), its state and
results routed to the channel, and a v5 session resumed within its expiry."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from run.gateway_mqtt.codec import (MQTT_3_1_1, MQTT_5, ConnAck, Connect, Decoder, Properties, PubAck, Publish,
                                    SubAck, Subscribe, Subscription, UnsubAck, Unsubscribe, encode)
from run.gateway_mqtt.outbound import Outbound
from run.gateway_mqtt.ports import InvalidPayload
from run.gateway_mqtt.protocol import Connection, Effects, Limits

BOTH = pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5])
CONFIG, COMMANDS = "devices/dev1/config", "devices/dev1/commands/#"


class FakeChannel:
    """Twin and commands in memory; records what the connection asked of it."""

    def __init__(self) -> None:
        self.version, self.desired = 3, {"rate": 5}
        self.commands: list[dict] = []
        self.calls: list[tuple] = []
        self.refuse = False

    async def config(self, identity):
        return self.version, self.desired

    async def pending(self, identity):
        return list(self.commands)

    async def delivered(self, identity, command_id):
        self.calls.append(("delivered", command_id))

    async def report(self, identity, payload):
        if self.refuse:
            raise InvalidPayload("state must be an object")
        self.calls.append(("report", orjson.loads(payload)))

    async def answer(self, identity, command_id, payload):
        self.calls.append(("answer", command_id, orjson.loads(payload)))

    async def opened(self, identity, session):
        pass

    async def closed(self, identity, session):
        pass


class Store:
    """The server's session store, as a dict."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[str, str], Outbound] = {}

    def take(self, key):
        return self.sessions.pop(key, None)


def command(command_id: str, name: str = "reboot", ttl: float = 60) -> dict:
    expires = datetime.now(timezone.utc) + timedelta(seconds=ttl)
    return {"id": command_id, "name": name, "payload": {"n": 1}, "expires_at": expires.isoformat()}


@pytest.fixture
def channel() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def connect(authenticator, clock, channel):
    """A connection with the channel, CONNECTed; returns (connection, the packets it sent)."""

    def make(version: int = MQTT_5, *, store: Store | None = None, limits: Limits = Limits(), **fields):
        conn = Connection(authenticator, None, limits, clock=clock.monotonic, wall_clock=clock.time, channel=channel,
                          sessions=store)
        packet = {"client_id": "c1", "protocol_level": version, "username": "JWT", "password": b"ok-dev1", **fields}
        effects = conn.data_received(encode(Connect(**packet), version))
        return conn, run(conn, asyncio.run(conn.authenticate(effects.authentication)))

    return make


def run(conn: Connection, effects: Effects) -> list:
    """The packets of ``effects`` and of every channel call they asked for, carried out as the transport does."""
    found = decode(effects.send, conn.version)
    for call in effects.control:
        found += run(conn, asyncio.run(conn.run_control(call)))
    for call in effects.deliveries:
        found += run(conn, asyncio.run(conn.deliver(call)))
    return found


def decode(data: bytes, version: int) -> list:
    decoder = Decoder(version)
    decoder.feed(data)
    return list(decoder)


def send(conn: Connection, *items) -> list:
    return run(conn, conn.data_received(b"".join(encode(item, conn.version) for item in items)))


@pytest.mark.parametrize("version, refused", [(MQTT_3_1_1, 0x80), (MQTT_5, 0x87)])
def test_only_the_devices_own_config_and_commands_are_granted(connect, version, refused):
    conn, _ = connect(version)
    filters = [(CONFIG, 1), ("devices/dev1/commands/+", 0), (COMMANDS, 2), ("devices/dev2/config", 0),
               ("devices/dev1/telemetry", 0), ("devices/+/config", 0), ("#", 1), ("$share/g/devices/dev1/config", 0)]
    [suback, config] = send(conn, Subscribe(7, tuple(Subscription(f, qos) for f, qos in filters)))
    assert isinstance(suback, SubAck) and suback.reason_codes == (1, 0, 1) + (refused,) * 5
    assert (config.topic, orjson.loads(config.payload)) == (CONFIG, {"version": 3, "desired": {"rate": 5}})


def test_config_goes_out_on_subscribe_and_only_when_newer(connect, channel):
    conn, _ = connect()
    send(conn, Subscribe(1, (Subscription(CONFIG, 1),)))
    assert decode(conn.push_config(3, {"rate": 5}).send, MQTT_5) == []  # the version it has
    [newer] = decode(conn.push_config(4, {"rate": 6}).send, MQTT_5)
    assert (newer.qos, orjson.loads(newer.payload)) == (1, {"version": 4, "desired": {"rate": 6}})
    [unsuback] = send(conn, Unsubscribe(2, (CONFIG,)))
    assert unsuback.reason_codes == (0,)
    assert conn.push_config(10, {}).send == b""  # unsubscribed


@BOTH
def test_a_qos1_command_is_sent_once_and_its_puback_marks_it_delivered(connect, channel, version):
    conn, _ = connect(version)
    channel.commands = [command("c-old", ttl=-1), command("c1")]
    [_, sent] = send(conn, Subscribe(1, (Subscription(COMMANDS, 1),)))  # the expired one is not sent
    assert (sent.topic, sent.qos, orjson.loads(sent.payload)["id"]) == ("devices/dev1/commands/reboot", 1, "c1")
    assert conn.push_commands([command("c1")]).send == b""  # nudged as well: still once
    assert channel.calls == []
    assert send(conn, PubAck(sent.packet_id)) == [] and channel.calls == [("delivered", "c1")]


def test_a_qos0_command_is_delivered_as_it_is_sent(connect, channel):
    conn, _ = connect()
    send(conn, Subscribe(1, (Subscription(COMMANDS, 0),)))
    effects = conn.push_commands([command("c1")])
    [sent] = decode(effects.send, MQTT_5)
    assert (sent.qos, sent.packet_id) == (0, None)
    assert effects.control[0].kind == "delivered" and effects.control[0].command_id == "c1"


def test_commands_beyond_the_clients_receive_maximum_wait_for_a_puback(connect):
    conn, _ = connect(properties=Properties(receive_maximum=1))
    send(conn, Subscribe(1, (Subscription(COMMANDS, 1),)))
    [first] = decode(conn.push_commands([command("c1"), command("c2")]).send, MQTT_5)
    [second] = send(conn, PubAck(first.packet_id))
    assert orjson.loads(second.payload)["id"] == "c2" and second.packet_id != first.packet_id


def test_state_and_results_go_to_the_channel_before_their_puback(connect, channel):
    conn, _ = connect()
    [ack] = send(conn, Publish("devices/dev1/state", b'{"rate": 5}', qos=1, packet_id=3))
    [answered] = send(conn, Publish("devices/dev1/commands/c1/result", b'{"status": "succeeded"}', qos=1, packet_id=4))
    assert (ack.packet_id, answered.packet_id, ack.reason_code, answered.reason_code) == (3, 4, 0, 0)
    assert channel.calls == [("report", {"rate": 5}), ("answer", "c1", {"status": "succeeded"})]
    channel.refuse = True
    [refused] = send(conn, Publish("devices/dev1/state", b"[1]", qos=1, packet_id=5))
    assert (refused.reason_code, refused.properties.reason_string) == (0x99, "state must be an object")
    [other] = send(conn, Publish("devices/dev2/state", b"{}", qos=1, packet_id=6))
    assert other.reason_code == 0x87


def test_a_v5_session_resumes_within_its_expiry_and_resends_what_was_not_acknowledged(connect, channel):
    store = Store()
    first, [connack] = connect(store=store, clean_start=False, properties=Properties(session_expiry_interval=7200))
    assert (connack.session_present, connack.properties.session_expiry_interval) == (False, 3600)  # lowered
    send(first, Subscribe(1, (Subscription(COMMANDS, 1),)))
    [sent] = decode(first.push_commands([command("c1")]).send, MQTT_5)
    store.sessions[("dev1", "c1")] = first.outbound  # what the server keeps when the connection ends
    channel.commands = [command("c1"), command("c2")]
    second, [connack, again, fresh] = connect(store=store, clean_start=False,
                                              properties=Properties(session_expiry_interval=60))
    assert connack.session_present is True
    assert (again.dup, again.packet_id, orjson.loads(again.payload)["id"]) == (True, sent.packet_id, "c1")
    assert (fresh.dup, orjson.loads(fresh.payload)["id"]) == (False, "c2")  # pending, read again: c1 not twice
    assert second.session_expiry == 60


@BOTH
def test_a_clean_start_or_3_1_1_connection_starts_a_new_session(connect, version):
    store = Store()
    store.sessions[("dev1", "c1")] = Outbound("dev1", 32)
    # v5 asks for a clean start; 3.1.1 asks to keep its session, which the gateway does not do for 3.1.1.
    conn, [connack] = connect(version, store=store, clean_start=version == MQTT_5)
    assert isinstance(connack, ConnAck) and connack.session_present is False
    assert store.sessions == {} and conn.session_expiry == 0


def test_without_a_channel_nothing_may_be_subscribed_to(authenticator):
    conn = Connection(authenticator)
    effects = conn.data_received(encode(Connect("c1", MQTT_5, username="JWT", password=b"ok-dev1"), MQTT_5))
    asyncio.run(conn.authenticate(effects.authentication))
    [suback] = decode(conn.data_received(encode(Subscribe(1, (Subscription(CONFIG, 1),)), MQTT_5)).send, MQTT_5)
    assert suback.reason_codes == (0x87,) and conn.outbound is None
    [unsuback] = decode(conn.data_received(encode(Unsubscribe(2, (CONFIG,)), MQTT_5)).send, MQTT_5)
    assert isinstance(unsuback, UnsubAck) and unsuback.reason_codes == (0x11,)
