"""Fixtures of the attack suite: the real services, and a world of two tenants per module.

Every attack goes through real processes on the stack's emulators: the composed API (every API group, routed as
the load balancer routes them), the three gateways and the pipeline, started once for the package with the default
limits and a 1 s revocation cache. A world is two tenants made through the API, each with a device (a double and a
keyword sensor), a consumer granted the double sensor, and their keys. Each module builds its own world, so a test
elsewhere that wipes Firestore cannot pull it away.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from google.cloud import firestore

from emulators.api_client import ApiClient
from emulators.process import free_port
from infra.adapters.keys import SigningKey, load_signing_key
from tests.support.accounts import signed_in_admin
from tests.support.names import unique

PASSWORD = "correct horse battery staple"
ATTACK_ENV = {"IOT_REVOCATION_CACHE_TTL": "1"}


@dataclass
class Services:
    """Where the services under attack listen."""

    api: str  # base URL of the composed API
    http: str  # gateway-http's URL
    ws: str  # gateway-ws's ws:// URL
    mqtt_tcp_port: int
    mqtt_ws_port: int  # MQTT over WebSocket at /mqtt


@dataclass
class Tenant:
    """A signed-in user and what it owns: a device with sensors ``temp`` (double, granted) and ``label`` (keyword),
    a consumer granted ``temp``, and the device's and consumer's current tokens."""

    client: ApiClient
    user_id: str
    device: str
    sensors: dict[str, str]
    consumer: str
    device_token: str
    consumer_token: str


@dataclass
class World:
    admin: ApiClient
    a: Tenant
    b: Tenant


@pytest.fixture(scope="package")
def services(stack) -> Services:
    """The composed API and the three gateways, own instances on free ports, and the pipeline the push subscription
    targets (it records what gateway-mqtt refuses), stopped after the package."""
    mqtt_tcp_port = free_port()
    keys = {"attack-api": "api", "attack-http": "gateway-http", "attack-ws": "gateway-ws",
            "attack-mqtt": "gateway-mqtt", "pipeline": "pipeline"}
    for key, name in keys.items():
        extra = {"IOT_MQTT_TCP_PORT": str(mqtt_tcp_port)} if name == "gateway-mqtt" else {}
        stack.spawn_service(name, key=key, extra_env={**ATTACK_ENV, **extra})
    try:
        for key in keys:
            stack.wait_healthy(key)
        yield Services(api=stack.url("attack-api", ""), http=stack.url("attack-http"),
                       ws=stack.url("attack-ws").replace("http://", "ws://"), mqtt_tcp_port=mqtt_tcp_port,
                       mqtt_ws_port=stack.ports.for_process("attack-mqtt"))
    finally:
        with ThreadPoolExecutor(len(keys)) as pool:
            list(pool.map(stack.stop_service, keys))


@pytest.fixture(scope="package")
def firestore_client(stack):
    client = firestore.Client(project=stack.project)
    yield client
    client.close()


@pytest.fixture(scope="package")
def signing_key(stack) -> SigningKey:
    """The stack's private key: the tests mint genuine tokens with claims the platform would never issue."""
    return load_signing_key(stack.settings())


def new_tenant(admin: ApiClient, base_url: str) -> Tenant:
    """A fresh user with a device, two sensors, a consumer granted the double sensor, and their tokens."""
    username = unique("t").replace("-", "")
    user = admin.create_user(username, PASSWORD)
    client = ApiClient(base_url)
    client.signin(username, PASSWORD)
    device = client.create_device("target", "attacked by the security suite")["id"]
    sensors = {"temp": client.create_sensor(device, "temperature", {"type": "double"})["id"],
               "label": client.create_sensor(device, "label", {"type": "keyword"})["id"]}
    consumer = client.create_consumer("dashboard")["id"]
    client.grant(consumer, sensors["temp"])
    return Tenant(client, user["id"], device, sensors, consumer, client.device_key(device)["token"],
                  client.consumer_key(consumer)["token"])


@pytest.fixture(scope="module")
def world(stack, services, firestore_client) -> World:
    """Two tenants, A and B, made through the API (the admin re-created if a test elsewhere wiped Firestore)."""
    admin = signed_in_admin(stack.settings(), firestore_client, services.api)
    return World(admin, new_tenant(admin, services.api), new_tenant(admin, services.api))
