"""Fault tests: real gateways, a pipeline and its own push subscription, devices that resend, one reconciliation.

The gateways and the pipeline here are instances of these tests (their own ports), so a test may stop, kill or
restart them. The pipeline receives the ``telemetry`` topic through a push subscription of its own, with the
delivery attempts of ``telemetry-indexer``, and writes to the stack's Elasticsearch.

Test subscriptions have no retry policy, so the emulator redelivers a refused push about a second later: the real
backoff scaled down to seconds. A retry policy is not an option on the emulator (0.8.20): with two or more
refused messages in a subscription its redeliveries can stop for good after the third attempt (seen with 2 and 10
messages and a 1-3 s policy: no attempt in the following minute), which would lose data no real Pub/Sub loses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from elasticsearch import Elasticsearch
from google.cloud import pubsub_v1

from emulators import devices
from emulators.process import ManagedProcess, free_port
from emulators.stack import LocalStack
from infra.config import PubSubTopology
from tests.support.devices import SeededDevice, issuer, seed  # noqa: F401  (fixtures used by the tests)
from tests.support.names import unique
from tests.support.reconcile import Ledger, reconcile

# No rate limit in the way of a steady stream; a short publish timeout so a Pub/Sub outage shows within seconds.
GATEWAY_ENV = {"IOT_INGEST_RATE": "1000", "IOT_INGEST_BURST": "1000", "IOT_PUBLISH_TIMEOUT": "2"}
SENDERS = {"http": devices.http_sender, "ws": devices.ws_sender, "mqtt": devices.mqtt_sender}
REDELIVERY_DELAY = 1.0  # seconds between deliveries of a refused push, on the emulator without a retry policy


@dataclass
class Gateways:
    """The three gateways of these tests: started, restarted and addressed by protocol."""

    stack: LocalStack
    mqtt_tcp_port: int = field(default_factory=free_port)

    SERVICES = {"http": "gateway-http", "ws": "gateway-ws", "mqtt": "gateway-mqtt"}

    def key(self, protocol: str) -> str:
        return f"ft-{self.SERVICES[protocol]}"

    def start(self, *protocols: str) -> None:
        """Start the gateways of ``protocols`` (all at once), on the same ports every time."""
        for protocol in protocols:
            env = {**GATEWAY_ENV, "IOT_MQTT_TCP_PORT": str(self.mqtt_tcp_port)}
            self.stack.spawn_service(self.SERVICES[protocol], key=self.key(protocol), extra_env=env)
        for protocol in protocols:
            self.stack.wait_healthy(self.key(protocol))

    def process(self, protocol: str) -> ManagedProcess:
        return self.stack.processes[self.key(protocol)]

    def url(self, protocol: str) -> str:
        if protocol == "mqtt":
            return f"mqtt://127.0.0.1:{self.mqtt_tcp_port}"
        url = self.stack.url(self.key(protocol))
        return url.replace("http://", "ws://") if protocol == "ws" else url

    def connector(self, protocol: str, device: SeededDevice):
        """What a ResendingDevice calls to open a connection of ``device`` to the gateway of ``protocol``."""
        return lambda: SENDERS[protocol](self.url(protocol), device)


@pytest.fixture(scope="package")
def gateways(stack) -> Gateways:
    started = Gateways(stack)
    started.start(*Gateways.SERVICES)
    yield started
    for protocol in Gateways.SERVICES:
        stack.stop_service(started.key(protocol))


def push_subscription(stack: LocalStack, endpoint: str, *, max_delivery_attempts: int,
                      dead_letter_topic: str | None = None) -> str:
    """A push subscription on ``telemetry`` to ``endpoint`` (no retry policy: see the module docstring); its path."""
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(stack.project, unique("ft-push"))
    policy = (pubsub_v1.types.DeadLetterPolicy(dead_letter_topic=dead_letter_topic,
                                               max_delivery_attempts=max_delivery_attempts)
              if dead_letter_topic else None)
    subscriber.create_subscription(request=pubsub_v1.types.Subscription(
        name=path, topic=f"projects/{stack.project}/topics/{PubSubTopology.load().topic}", ack_deadline_seconds=10,
        push_config=pubsub_v1.types.PushConfig(push_endpoint=endpoint), dead_letter_policy=policy))
    subscriber.close()
    return path


def delete_subscription(path: str) -> None:
    subscriber = pubsub_v1.SubscriberClient()
    subscriber.delete_subscription(subscription=path)
    subscriber.close()


@dataclass
class Indexer:
    """The pipeline of these tests (restartable on its port) and the push subscription feeding it."""

    stack: LocalStack
    key: str
    subscription: str = ""

    def start(self) -> ManagedProcess:
        return self.stack.start_service("pipeline", key=self.key)

    @property
    def process(self) -> ManagedProcess:
        return self.stack.processes[self.key]


@pytest.fixture(scope="package")
def indexer(stack) -> Indexer:
    pipeline = Indexer(stack, "ft-pipeline")
    pipeline.start()
    pipeline.subscription = push_subscription(stack, stack.url(pipeline.key, "/pubsub/push"),
                                              max_delivery_attempts=PubSubTopology.load().max_delivery_attempts)
    yield pipeline
    delete_subscription(pipeline.subscription)
    stack.stop_service(pipeline.key)


@pytest.fixture(scope="package")
def es(stack) -> Elasticsearch:
    """The official client on the stack's Elasticsearch (where the indexer writes)."""
    client = Elasticsearch(stack.es_url, request_timeout=30)
    yield client
    client.close()


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def reconciled(request, capsys):
    """Reconcile a ledger with a store, print the test's line past pytest's capture (CI logs, -s), then check it."""

    def run(es: Elasticsearch, ledger: Ledger, **options):
        result = reconcile(es, ledger, **options)
        with capsys.disabled():
            print(f"\n{request.node.name}: {result.line()}")
        result.check()
        return result

    return run
