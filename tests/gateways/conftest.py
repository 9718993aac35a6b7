"""Gateways under test: real server processes on the emulators, devices seeded in Firestore as the API stores them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from emulators.process import free_port
from infra.domain.claims import USER
from tests.support.devices import FIXED_DATES_ENV, SeededDevice, issuer, seed  # noqa: F401  (fixtures used by the tests)
from tests.support.pubsub import TelemetryTap

# Short revocation cache and a small bucket so those behaviours show within a test; a small body limit; two
# WebSockets per device.
GATEWAY_ENV = {"IOT_REVOCATION_CACHE_TTL": "1", "IOT_INGEST_RATE": "5", "IOT_INGEST_BURST": "25",
               "IOT_INGEST_MAX_BYTES": "65536", "IOT_PUBLISH_TIMEOUT": "3", "IOT_WS_MAX_SOCKETS_PER_DEVICE": "2",
               **FIXED_DATES_ENV}


@dataclass
class Gateways:
    http: str  # base URL
    ws: str  # ws:// URL
    mqtt_tcp_port: int
    mqtt_ws_port: int


@pytest.fixture(scope="session")
def gateways(stack) -> Gateways:
    """gateway-http, gateway-ws and gateway-mqtt with the test limits (own instances, own ports)."""
    mqtt_tcp_port = free_port()
    stack.start_service("gateway-http", key="gw-http", extra_env=GATEWAY_ENV)
    stack.start_service("gateway-ws", key="gw-ws", extra_env=GATEWAY_ENV)
    stack.start_service("gateway-mqtt", key="gw-mqtt",
                        extra_env={**GATEWAY_ENV, "IOT_MQTT_TCP_PORT": str(mqtt_tcp_port)})
    return Gateways(http=stack.url("gw-http"), ws=stack.url("gw-ws").replace("http://", "ws://"),
                    mqtt_tcp_port=mqtt_tcp_port, mqtt_ws_port=stack.ports.for_process("gw-mqtt"))


@pytest.fixture(scope="session")
def dead_pubsub_env():
    """Environment of a gateway whose Pub/Sub is unreachable (nothing listens on that port)."""
    return {**GATEWAY_ENV, "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{free_port()}", "IOT_MQTT_TCP_PORT": "0"}


@pytest.fixture
def tap(stack):
    telemetry = TelemetryTap(stack.project)
    yield telemetry
    telemetry.close()


@pytest.fixture
def rotate(firestore_db):
    """Bump a device's key version, as key rotation does."""

    def bump(device: SeededDevice) -> None:
        firestore_db.collection("devices").document(device.id).update({"key_version": 2})

    return bump


@pytest.fixture
def user_token(issuer):
    return issuer.issue(USER, "some-user", role="user")
