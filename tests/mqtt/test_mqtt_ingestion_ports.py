"""gateway-mqtt's ports on the real ingestion core: reads off the event loop, QoS 1 resends, revoked keys.

The ingestion core (token verifier, device cache, validation) is the real one; only its Firestore loader and
its Pub/Sub publisher are in-memory stand-ins, so a test can make one device's read slow.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading

import orjson
import pytest
from google.api_core.exceptions import PermissionDenied
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.usecases.ingest import DeviceProfile, DeviceDirectory, Identity, Ingestor
from infra.adapters.keys import SigningKey, jwks, parse_jwks
from infra.adapters.jwt_tokens import JwtIssuer, JwtVerifier
from infra.domain.claims import DEVICE
from run.gateway_mqtt.codec import MQTT_3_1_1, MQTT_5
from run.gateway_mqtt.main import Offloader, PubSubSink, TokenAuthenticator, off_the_event_loop
from run.gateway_mqtt.ports import InvalidPayload, NotAuthorized, ServiceUnavailable
from tests.mqtt.conftest import WAIT, FakeClock

SENSOR = "s1"


class Devices:
    """What the device cache loads: every device has sensor ``s1``; one device's read can be held up."""

    def __init__(self) -> None:
        self.key_version = 1
        self.slow: str | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.reading = threading.Event()  # set while a held-up read waits

    def load(self, device_id: str) -> DeviceProfile:
        if device_id == self.slow:
            self.reading.set()
            assert self.gate.wait(WAIT), "the slow read was never released"
        return DeviceProfile(device_id, "owner", self.key_version, {SENSOR: "double"})


class Published:
    """An in-memory publisher: every message is confirmed at once, or refused with ``error``."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.error: Exception | None = None  # set: every publish fails with it

    def publish_future(self, data: bytes, **attributes: str) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self.error is not None:
            future.set_exception(self.error)
            return future
        self.messages.append(orjson.loads(data))
        future.set_result("id")
        return future


@pytest.fixture(scope="module")
def key() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey.from_pem(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))


@pytest.fixture
def devices() -> Devices:
    return Devices()


@pytest.fixture
def cache_clock() -> FakeClock:
    """The device cache's clock: advancing it past the TTL makes the next use read again."""
    return FakeClock()


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
def ingestor(key, devices, cache_clock, published) -> Ingestor:
    verifier = JwtVerifier(parse_jwks(json.dumps(jwks(key))), "iot-platform")
    directory = DeviceDirectory(off_the_event_loop(devices.load), ttl=60, clock=cache_clock.monotonic)
    return Ingestor(verifier, directory, published, "mqtt")  # type: ignore[arg-type]


@pytest.fixture
def offload():
    executor = concurrent.futures.ThreadPoolExecutor(4)
    yield Offloader(executor)
    executor.shutdown(wait=False)


@pytest.fixture
def authenticator(ingestor, offload) -> TokenAuthenticator:
    return TokenAuthenticator(ingestor, offload)


@pytest.fixture
def sink(ingestor, offload):
    return PubSubSink(ingestor, offload)


@pytest.fixture
def token(key):
    issuer = JwtIssuer(key, "iot-platform", 3600)
    return lambda device_id: issuer.issue(DEVICE, device_id, version=1)


def reading(value: float) -> bytes:
    return orjson.dumps([{"sensor_id": SENSOR, "value": value}, {"sensor_id": SENSOR, "value": value + 1}])


def test_a_slow_device_read_at_connect_does_not_stall_other_connections(paho_peer, devices, token):
    devices.slow = "slow"
    devices.gate.clear()
    slow = paho_peer(MQTT_5, "tcp", password=token("slow"))
    slow.client.connect("127.0.0.1", slow.port)
    slow.client.loop_start()
    assert devices.reading.wait(WAIT)  # its CONNECT waits for the device read
    fast = paho_peer(MQTT_3_1_1, "websockets", password=token("fast"))
    assert fast.connect().value == 0
    assert fast.wait_ack(fast.publish("fast", reading(1))) == 0
    assert slow.connack is None
    devices.gate.set()
    with slow._cond:
        assert slow._cond.wait_for(lambda: slow.connack is not None, WAIT)
    assert slow.connack.value == 0


def test_a_slow_device_read_at_publish_does_not_stall_other_connections(paho_peer, devices, token, cache_clock,
                                                                         published):
    slow, fast = paho_peer(MQTT_5, "tcp", password=token("slow")), paho_peer(MQTT_5, "tcp", password=token("fast"))
    assert slow.connect().value == 0 and fast.connect().value == 0
    devices.slow = "slow"
    devices.gate.clear()
    cache_clock.advance(61)  # both cached devices are stale: the next publish of each reads again
    held = slow.publish("slow", reading(1))
    assert devices.reading.wait(WAIT)
    assert fast.wait_ack(fast.publish("fast", reading(2))) == 0
    assert held not in slow.acks
    devices.gate.set()
    assert slow.wait_ack(held) == 0
    assert sorted(m["device_id"] for m in published.messages) == ["fast", "slow"]


def test_a_key_rotated_since_connect_ends_the_connection_at_the_next_publish(paho_peer, devices, token, cache_clock,
                                                                             published):
    peer = paho_peer(MQTT_5, "tcp", password=token("dev1"))
    assert peer.connect().value == 0
    devices.key_version = 2
    cache_clock.advance(61)
    mid = peer.publish("dev1", reading(1))
    assert peer.wait_disconnect() == 0x87
    assert mid not in peer.acks and published.messages == []


def test_a_qos1_resend_gets_the_receive_time_of_the_first_delivery(sink, published):
    identity = Identity("dev1", 1, None)

    async def deliveries():
        await sink.publish(identity, reading(1), delivery_id="box:7")
        await sink.publish(identity, reading(1), delivery_id="box:7", repeated=True)  # PUBACK lost: sent again
        await sink.publish(identity, reading(1), delivery_id="other-box:7", repeated=True)  # another client

    asyncio.run(deliveries())
    first, resent, other = ([r["timestamp"] for r in m["records"]] for m in published.messages)
    assert resent == first  # the same readings: stored once
    assert not set(other) & set(first)  # another client's publish with the same packet id is its own


def test_refused_and_revoked_publishes_map_to_their_port_errors(sink, devices, cache_clock, published):
    identity = Identity("dev1", 1, None)
    with pytest.raises(InvalidPayload):
        asyncio.run(sink.publish(identity, b'{"sensor_id": "s1", "value": "warm"}'))
    [refusal] = published.messages  # reported for the pipeline to record
    assert refusal["device_id"] == "dev1" and refusal["owner_id"] == "owner" and "warm" in refusal["sample"]
    devices.key_version = 2
    cache_clock.advance(61)
    with pytest.raises(NotAuthorized):
        asyncio.run(sink.publish(identity, reading(1)))


def test_a_refusal_that_could_not_be_reported_is_not_acknowledged(sink, published):
    published.error = PermissionDenied("User not authorized to perform this action.")
    with pytest.raises(ServiceUnavailable, match="could not be recorded"):  # no PUBACK: the client resends
        asyncio.run(sink.publish(Identity("dev1", 1, None), b'{"sensor_id": "s1", "value": "warm"}'))
