"""The publisher and the bootstrap against Google's real Pub/Sub emulator."""

import time

import pytest
from google.cloud import pubsub_v1

from emulators import gcloud
from emulators.process import free_port
from emulators.pubsub_bootstrap import describe, ensure_topology
from infra.config import PubSubTopology
from infra.adapters.pubsub import PubSubPublisher
from infra.domain.ports import PublishError
from tests.support.names import unique


@pytest.fixture
def telemetry_subscription(stack):
    """A pull subscription on the telemetry topic that sees only messages published after it exists."""
    subscriber = pubsub_v1.SubscriberClient()
    topology = PubSubTopology.load()
    path = subscriber.subscription_path(stack.project, unique("test-pull"))
    subscriber.create_subscription(name=path, topic=f"projects/{stack.project}/topics/{topology.topic}")
    yield subscriber, path
    subscriber.delete_subscription(subscription=path)
    subscriber.close()


def test_a_published_message_reaches_a_subscription(stack, telemetry_subscription):
    subscriber, path = telemetry_subscription
    publisher = PubSubPublisher(stack.project, "telemetry", timeout=10)
    try:
        message_id = publisher.publish(b'{"hello": "world"}', device_id="d-1", gateway="test")
    finally:
        publisher.stop()

    received = []
    deadline = time.monotonic() + 20
    while not received and time.monotonic() < deadline:
        response = subscriber.pull(subscription=path, max_messages=10, timeout=5)
        received.extend(response.received_messages)
    assert [m.message.message_id for m in received] == [message_id]
    message = received[0].message
    assert message.data == b'{"hello": "world"}'
    assert dict(message.attributes) == {"device_id": "d-1", "gateway": "test"}


def test_a_stopped_publisher_refuses_with_a_publish_error(stack):
    # A gateway worker shutting down stops its publisher while a WebSocket frame may still be ingested: the
    # device must get the retryable 503 of a PublishError, not an internal error.
    publisher = PubSubPublisher(stack.project, "telemetry", timeout=3)
    publisher.stop()
    with pytest.raises(PublishError, match="stopped publisher"):
        publisher.publish(b"late")


def test_publish_against_a_stopped_emulator_raises_within_its_timeout(tmp_path, monkeypatch):
    emulator = gcloud.start_pubsub(free_port(), "iot-stopped", tmp_path)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.address)
    try:
        pubsub_v1.PublisherClient().create_topic(name="projects/iot-stopped/topics/telemetry")
        publisher = PubSubPublisher("iot-stopped", "telemetry", timeout=3)
        assert publisher.publish(b"before")  # works while the emulator runs
    finally:
        emulator.stop()

    started = time.monotonic()
    with pytest.raises(PublishError, match="Pub/Sub"):
        publisher.publish(b"after")
    # Boundedness, not speed: the call must give up near its timeout instead of hanging.
    assert time.monotonic() - started < 3 + 5
    publisher.stop()


def test_bootstrap_is_idempotent(stack):
    topology = PubSubTopology.load()
    endpoint = f"http://127.0.0.1:{stack.ports.pipeline}{topology.push_path}"
    first = ensure_topology(stack.project, endpoint)
    second = ensure_topology(stack.project, endpoint)
    assert first == second == describe(stack.project)

    sub = first["subscriptions"][f"projects/{stack.project}/subscriptions/{topology.push_subscription}"]
    assert sub == {
        "topic": f"projects/{stack.project}/topics/{topology.topic}",
        "push_endpoint": endpoint,
        "ack_deadline_seconds": topology.ack_deadline_seconds,
        "dead_letter_topic": f"projects/{stack.project}/topics/{topology.dead_letter_topic}",
        "max_delivery_attempts": 100,
    }
    assert f"projects/{stack.project}/topics/{topology.dead_letter_topic}" in first["topics"]


def test_bootstrap_repairs_a_drifted_push_endpoint(stack):
    topology = PubSubTopology.load()
    right = f"http://127.0.0.1:{stack.ports.pipeline}{topology.push_path}"
    name = f"projects/{stack.project}/subscriptions/{topology.push_subscription}"
    try:
        drifted = ensure_topology(stack.project, "http://127.0.0.1:1/elsewhere")
        assert drifted["subscriptions"][name]["push_endpoint"] == "http://127.0.0.1:1/elsewhere"
    finally:
        repaired = ensure_topology(stack.project, right)
    assert repaired["subscriptions"][name]["push_endpoint"] == right
