"""infra.ops.dead_letters.replay against Google's Pub/Sub emulator (the end-to-end replay is in tests/faults)."""

import pytest
from google.cloud import pubsub_v1

from infra.ops.dead_letters import replay
from infra.adapters.pubsub import PubSubPublisher
from tests.support.names import unique


@pytest.fixture
def hold(stack):
    """A topic with a pull subscription holding two messages, as the dead-letter hold subscription does."""
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(stack.project, unique("dl-topic"))
    publisher.create_topic(name=topic)
    path = subscriber.subscription_path(stack.project, unique("dl-hold"))
    subscriber.create_subscription(name=path, topic=topic, ack_deadline_seconds=60)
    for n in range(2):
        publisher.publish(topic, b"reading %d" % n, device_id="d-1").result()
    yield path
    subscriber.delete_subscription(subscription=path)
    publisher.delete_topic(topic=topic)
    subscriber.close()


def test_a_message_that_could_not_be_republished_stays_held(stack, hold):
    subscriber = pubsub_v1.SubscriberClient()
    nowhere = PubSubPublisher(stack.project, unique("missing-topic"), timeout=5)
    try:
        summary = replay(subscriber, nowhere, hold, wait=1.0)
    finally:
        nowhere.stop()
    assert (summary.replayed, summary.failed) == (0, 2)
    # Handed back at once (ack deadline 0), not after the hold subscription's 60 s: both can be pulled again.
    again = subscriber.pull(subscription=hold, max_messages=10, timeout=5).received_messages
    assert sorted(m.message.data for m in again) == [b"reading 0", b"reading 1"]
    subscriber.close()

