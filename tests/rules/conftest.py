"""Rules under test: the rules service, the composed API and gateway-http as real processes on the emulators, a
local webhook receiver, and a pull subscription on the alerts topic."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests
from google.cloud import pubsub_v1

from emulators.api_client import ApiClient
from tests.support.accounts import signed_in_admin
from tests.support.names import unique

PASSWORD = "correct horse battery staple"
# Webhook retries a tenth of a second apart, three attempts: a failing webhook settles within a second.
RULES_ENV = {"IOT_WEBHOOK_ATTEMPTS": "3", "IOT_WEBHOOK_BACKOFF": "0.1"}
GATEWAY_ENV = {"IOT_INGEST_RATE": "1000", "IOT_INGEST_BURST": "1000"}


@pytest.fixture(scope="package")
def services(stack):
    """The rules service on the port ``telemetry-rules`` pushes to, an API and a gateway of these tests."""
    stack.start_service("rules", extra_env=RULES_ENV)
    stack.start_service("api", key="rules-api")
    stack.start_service("gateway-http", key="rules-gateway-http", extra_env=GATEWAY_ENV)
    yield {"api": stack.url("rules-api", ""), "gateway": stack.url("rules-gateway-http", ""),
           "rules": stack.url("rules", "")}
    for key in ("rules-gateway-http", "rules-api", "rules"):
        stack.stop_service(key)


@pytest.fixture
def new_user(stack, services, firestore_db):
    """A factory of fresh signed-in users (the admin creates them)."""
    admin = signed_in_admin(stack.settings(), firestore_db, services["api"])

    def make() -> ApiClient:
        username = unique("u").replace("-", "")
        admin.create_user(username, PASSWORD)
        client = ApiClient(services["api"])
        client.signin(username, PASSWORD)
        return client

    return make


@pytest.fixture
def owner(new_user) -> ApiClient:
    """A fresh signed-in user."""
    return new_user()


@dataclass
class Sensor:
    """A double sensor of ``owner`` and its device key."""

    id: str
    device_id: str
    key: str
    gateway: str

    def send(self, values, *, start_ns: int | None = None, step_s: int = 10) -> None:
        """Send readings ``step_s`` apart (from ``start_ns``, default a few minutes ago) in one request."""
        start = start_ns if start_ns is not None else time.time_ns() - 300 * 10**9
        body = [{"sensor_id": self.id, "timestamp": start + i * step_s * 10**9, "value": v}
                for i, v in enumerate(values)]
        sent = requests.post(self.gateway + "/", json=body, headers={"Authorization": f"Bearer {self.key}"},
                             timeout=30)
        assert sent.status_code == 200, sent.text


@pytest.fixture
def sensor(owner, services) -> Sensor:
    device = owner.create_device("rules", "")
    created = owner.create_sensor(device["id"], "temperature", {"type": "double"})
    return Sensor(created["id"], device["id"], owner.device_key(device["id"])["token"], services["gateway"])


@dataclass
class Receiver:
    """A local webhook receiver: records each request (headers, body); answers ``status``."""

    url: str
    status: int = 200
    requests: list = field(default_factory=list)


@pytest.fixture
def receiver():
    state = Receiver("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append((dict(self.headers), body))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def alerts_subscription(stack):
    """A pull subscription on the alerts topic, made for this test; yields (subscriber, path)."""
    subscriber = pubsub_v1.SubscriberClient()
    topology = stack.settings().topology
    path = subscriber.subscription_path(stack.project, unique("alerts-test"))
    subscriber.create_subscription(name=path, topic=f"projects/{stack.project}/topics/{topology.alerts_topic}")
    yield subscriber, path
    subscriber.delete_subscription(subscription=path)
    subscriber.close()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll ``predicate`` until it answers something truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout}s")
