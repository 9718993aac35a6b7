"""Fixtures for the MQTT gateway tests: port implementations, a fake clock, a running server, MQTT peers.

The authenticator and sink here are in-memory implementations of the gateway's ports (the boundary the
real token verifier and Pub/Sub publisher plug into later), not mocks of the code under test.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from run.gateway_mqtt.ports import BadCredentials, DeviceIdentity, NotAuthorized, ServiceUnavailable, Stored
from run.gateway_mqtt.protocol import Limits
from run.gateway_mqtt.server import Server
from tests.support.mqtt_peer import RawPeer

WAIT = 10.0  # seconds any single expected event may take before a test gives up


class TokenAuthenticator:
    """Accepts password ``ok-<device_id>``; ``denied-<id>`` is not authorized, ``down`` is unavailable."""

    def __init__(self) -> None:
        self.expires_at: dict[str, float] = {}

    async def authenticate(self, username, password, client_id):
        if password == b"down":
            raise ServiceUnavailable("token keys unreachable")
        if password and password.startswith(b"denied-"):
            raise NotAuthorized("device disabled")
        if not password or not password.startswith(b"ok-") or len(password) < 4:
            raise BadCredentials("bad token")
        device_id = password[3:].decode()
        return DeviceIdentity(device_id, self.expires_at.get(device_id))


class RecordingSink:
    """Records accepted payloads (and each call's delivery id and DUP flag); can hold calls until released, or
    fail them. Safe across threads."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.records: list[tuple[str, bytes]] = []
        self.deliveries: list[tuple[str | None, bool]] = []
        self.started = 0
        self.error: BaseException | None = None
        self._held = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

    def hold(self) -> None:
        """Make calls from now on wait until ``release``."""
        with self._cond:
            self._held = True

    def release(self) -> None:
        """Let every held call (and later ones) finish."""
        with self._cond:
            self._held = False
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    async def publish(self, identity, payload: bytes, *, delivery_id=None, repeated=False) -> Stored:
        with self._cond:
            self.started += 1
            self._cond.notify_all()
            future = None
            if self._held:
                loop = asyncio.get_running_loop()
                future = loop.create_future()
                self._waiters.append((loop, future))
        if future is not None:
            await future
        if self.error is not None:
            raise self.error
        with self._cond:
            self.records.append((identity.device_id, payload))
            self.deliveries.append((delivery_id, repeated))
            self._cond.notify_all()
        return Stored(1)

    def wait_started(self, count: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.started >= count, WAIT), f"{self.started} calls started"

    def wait_records(self, count: int) -> list[tuple[str, bytes]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.records) >= count, WAIT), f"records: {self.records}"
            return list(self.records)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class FakeClock:
    """A monotonic and a wall clock that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_800_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds


class RunningServer:
    """A ``Server`` on free 127.0.0.1 ports, in its own event loop thread."""

    def __init__(self, authenticator, sink, limits: Limits, trusted_proxy_hops: int = 0) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mqtt-gateway", daemon=True)
        self._thread.start()
        self.server = Server(authenticator, sink, limits, trusted_proxy_hops=trusted_proxy_hops)
        self.call(self.server.start("127.0.0.1", 0, 0))
        self.tcp_port = self.server.tcp_port
        self.ws_port = self.server.ws_port
        self._stopped = False

    def call(self, coroutine, timeout: float = WAIT):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start_shutdown(self):
        """Begin the graceful shutdown; returns a concurrent future that completes with it."""
        return asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.call(self.server.shutdown(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT)
        self.loop.close()


class PahoPeer:
    """A paho-mqtt 2.2 client that records what the gateway answers."""

    def __init__(self, port: int, *, version: int, transport: str, password: str | None,
                 client_id: str | None = None, username: str | None = "JWT") -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id if client_id is not None else f"t-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311,
                                  transport=transport, reconnect_on_failure=False)
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        if password is not None:
            self.client.username_pw_set(username, password)
        self.port = port
        self._cond = threading.Condition()
        self.connack = None
        self.acks: dict[int, int] = {}
        self.subacks: dict[int, list[int]] = {}
        self.disconnect_code: int | None = None
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect

    def connect(self) -> mqtt.ReasonCode:
        """Connect and return the CONNACK reason code (paho reports 3.1.1 codes as their v5 equivalents)."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        with self._cond:
            assert self._cond.wait_for(lambda: self.connack is not None, WAIT), "no CONNACK"
            return self.connack

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> int:
        info = self.client.publish(topic, payload, qos=qos)
        return info.mid

    def wait_ack(self, mid: int) -> int:
        """Wait for the PUBACK of ``mid`` and return its reason code."""
        with self._cond:
            assert self._cond.wait_for(lambda: mid in self.acks, WAIT), f"no PUBACK for {mid}"
            return self.acks[mid]

    def subscribe(self, topic: str) -> list[int]:
        """Subscribe and return the SUBACK reason codes; a round trip that follows everything sent before."""
        result, mid = self.client.subscribe(topic, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS
        with self._cond:
            assert self._cond.wait_for(lambda: mid in self.subacks, WAIT), "no SUBACK"
            return self.subacks[mid]

    def wait_disconnect(self) -> int:
        with self._cond:
            assert self._cond.wait_for(lambda: self.disconnect_code is not None, WAIT), "still connected"
            return self.disconnect_code

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cond:
            self.connack = reason_code
            self.connack_properties = properties
            self._cond.notify_all()

    def _on_connect_fail(self, client, userdata) -> None:
        with self._cond:
            self.connack = "failed"
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cond:
            self.acks[mid] = reason_code.value
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._cond:
            self.subacks[mid] = [code.value for code in reason_codes]
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cond:
            self.disconnect_code = reason_code.value
            self._cond.notify_all()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for the sans-IO connection."""
    return FakeClock()


@pytest.fixture
def authenticator() -> TokenAuthenticator:
    """The test authenticator: password ``ok-<device_id>`` authenticates as that device."""
    return TokenAuthenticator()


@pytest.fixture
def sink() -> RecordingSink:
    """A recording sink that can hold or fail calls."""
    return RecordingSink()


@pytest.fixture
def limits() -> Limits:
    """Gateway limits for the test server; override the fixture to change them."""
    return Limits(shutdown_grace=5.0)


@pytest.fixture
def trusted_proxy_hops() -> int:
    """X-Forwarded-For hops the test server trusts; override the fixture to change it."""
    return 0


@pytest.fixture
def gateway(authenticator, sink, limits, trusted_proxy_hops):
    """A running gateway (TCP and WebSocket) on free ports, shut down after the test."""
    running = RunningServer(authenticator, sink, limits, trusted_proxy_hops)
    yield running
    if isinstance(sink, RecordingSink):
        sink.release()  # held calls would hold up the shutdown
    running.stop()


@pytest.fixture
def paho_peers():
    """Make paho clients for any port; each is disconnected after the test."""
    peers: list[PahoPeer] = []

    def make(port: int, version: int = 5, transport: str = "tcp", password: str | None = "ok-dev1",
             **kwargs) -> PahoPeer:
        peer = PahoPeer(port, version=version, transport=transport, password=password, **kwargs)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture
def paho_peer(gateway, paho_peers):
    """Make paho clients of the running gateway: ``paho_peer(version, transport, password=...)``."""

    def make(version: int = 5, transport: str = "tcp", password: str | None = "ok-dev1", **kwargs) -> PahoPeer:
        port = gateway.tcp_port if transport == "tcp" else gateway.ws_port
        return paho_peers(port, version, transport, password, **kwargs)

    return make


@pytest.fixture
def raw_peer(gateway):
    """Make raw TCP peers to the gateway; each is closed after the test."""
    peers: list[RawPeer] = []

    def make(version: int) -> RawPeer:
        peer = RawPeer(gateway.tcp_port, version)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()

