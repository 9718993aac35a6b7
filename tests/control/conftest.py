"""Device control end to end: the composed API and gateway-http as real processes on the emulators; an owner acting
through the API and a device through the gateway with its key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from emulators.api_client import ApiClient
from tests.support.accounts import signed_in_admin
from tests.support.names import unique

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="package")
def services(stack):
    """The API and gateway-http (own instances)."""
    stack.start_service("api", key="ctl-api")
    stack.start_service("gateway-http", key="ctl-gateway-http")
    yield {"api": stack.url("ctl-api", ""), "gateway": stack.url("ctl-gateway-http", "")}
    for key in ("ctl-gateway-http", "ctl-api"):
        stack.stop_service(key)


@dataclass
class HttpDevice:
    """A device talking to gateway-http with its key."""

    id: str
    key: str
    gateway: str
    session: requests.Session

    def request(self, method: str, path: str, *, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.key}", **kwargs.pop("headers", {})}
        return self.session.request(method, self.gateway + path, headers=headers, timeout=60, **kwargs)


@pytest.fixture
def owner(stack, services, firestore_db) -> ApiClient:
    """A fresh user signed in to the API."""
    admin = signed_in_admin(stack.settings(), firestore_db, services["api"])
    username = unique("u").replace("-", "")
    admin.create_user(username, PASSWORD)
    client = ApiClient(services["api"])
    client.signin(username, PASSWORD)
    return client


@pytest.fixture
def device(owner, services) -> HttpDevice:
    """A device of ``owner``, with its key."""
    device_id = owner.create_device("thermostat")["id"]
    with requests.Session() as session:
        yield HttpDevice(device_id, owner.device_key(device_id)["token"], services["gateway"], session)


@pytest.fixture(scope="package")
def second_api(stack, services):
    """A second API instance (base URL): the owner's call may land on any instance."""
    stack.start_service("api", key="ctl-api-b")
    yield stack.url("ctl-api-b", "")
    stack.stop_service("ctl-api-b")


@pytest.fixture(scope="package")
def ws_gateways(stack, services):
    """Two gateway-ws instances (ws:// URLs): a device's socket lives on one, the API's nudge reaches both."""
    keys = ("ctl-ws-a", "ctl-ws-b")
    for key in keys:
        stack.start_service("gateway-ws", key=key)
    yield [stack.url(key).replace("http://", "ws://") for key in keys]
    for key in keys:
        stack.stop_service(key)


class MqttGateways(list):
    """(host, TCP port) of each gateway-mqtt instance; ``websocket_urls``: the same instances' MQTT over WebSocket."""

    websocket_urls: list[str]


@pytest.fixture(scope="package")
def mqtt_gateways(stack, services):
    """Two gateway-mqtt instances."""
    from emulators.process import free_port

    instances = {"ctl-mqtt-a": free_port(), "ctl-mqtt-b": free_port()}
    for key, port in instances.items():
        stack.start_service("gateway-mqtt", key=key, extra_env={"IOT_MQTT_TCP_PORT": str(port)})
    gateways = MqttGateways(("127.0.0.1", port) for port in instances.values())
    gateways.websocket_urls = [f"ws://127.0.0.1:{stack.ports.for_process(key)}/mqtt" for key in instances]
    yield gateways
    for key in instances:
        stack.stop_service(key)
