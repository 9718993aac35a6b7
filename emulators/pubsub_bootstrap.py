"""Create the Pub/Sub topics and subscriptions of ``infra/pubsub_topology.json`` (terraform does it in the cloud).

Idempotent: existing resources are kept, and a push subscription whose endpoint or policy drifted is updated.
"""

from __future__ import annotations

import logging

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from google.protobuf import duration_pb2, field_mask_pb2

from infra.config import PubSubTopology

logger = logging.getLogger(__name__)


def ensure_topology(project: str, push_endpoint: str, topology: PubSubTopology | None = None, *,
                    rules_endpoint: str | None = None, extensions: dict[str, str] | None = None) -> dict:
    """Create or update the telemetry topic, its dead-letter topic, the subscriptions and the alerts topic;
    describe the result.

    ``rules_endpoint``: where ``telemetry-rules`` pushes (the rules service). ``extensions``: an operator's own
    processing, ``{name: url}``, each a push subscription ``telemetry-ext-NAME`` on the telemetry topic.
    """
    topology = topology or PubSubTopology.load()
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        topic = publisher.topic_path(project, topology.topic)
        dead_letter_topic = publisher.topic_path(project, topology.dead_letter_topic)
        for path in (topic, dead_letter_topic, publisher.topic_path(project, topology.alerts_topic)):
            _ensure_topic(publisher, path)

        retention = duration_pb2.Duration()
        retention.FromJsonString(topology.message_retention)
        push = pubsub_v1.types.Subscription(
            name=subscriber.subscription_path(project, topology.push_subscription),
            topic=topic,
            push_config=pubsub_v1.types.PushConfig(push_endpoint=push_endpoint),
            ack_deadline_seconds=topology.ack_deadline_seconds,
            message_retention_duration=retention,
            # No retry policy here, unlike terraform and the README's recipe: the emulator (0.8.20) honours one,
            # but with two or more refused messages its redeliveries may stop for good after the third attempt
            # (tests/faults/test_store_outage.py). Without one it redelivers about every second, so locally the
            # budget before dead-lettering is ~100 s instead of hours (docs/reliability.md).
            dead_letter_policy=pubsub_v1.types.DeadLetterPolicy(
                dead_letter_topic=dead_letter_topic, max_delivery_attempts=topology.max_delivery_attempts),
        )
        hold = pubsub_v1.types.Subscription(
            name=subscriber.subscription_path(project, topology.dead_letter_subscription),
            topic=dead_letter_topic,
            ack_deadline_seconds=topology.ack_deadline_seconds,
            message_retention_duration=retention,
        )
        wanted = [push, hold]
        # The rules service and operators' extensions: further push subscriptions on telemetry, each with the same
        # delivery and dead-letter policy as the indexer, so each consumer of the stream fails on its own.
        further = {topology.rules_subscription: rules_endpoint} if rules_endpoint else {}
        further.update({topology.extension_subscription_prefix + name: url for name, url in (extensions or {}).items()})
        for name, endpoint in further.items():
            extra = pubsub_v1.types.Subscription()
            extra._pb.CopyFrom(push._pb)
            extra.name = subscriber.subscription_path(project, name)
            extra.push_config = pubsub_v1.types.PushConfig(push_endpoint=endpoint)
            wanted.append(extra)
        for subscription in wanted:
            _ensure_subscription(subscriber, subscription)
        return describe(project, topology)
    finally:
        subscriber.close()
        publisher.stop()


def describe(project: str, topology: PubSubTopology | None = None) -> dict:
    """Read back the resources of the topology as plain data (what tests compare)."""
    topology = topology or PubSubTopology.load()
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        topics = sorted(t.name for t in publisher.list_topics(project=f"projects/{project}"))
        subscriptions = {}
        for s in subscriber.list_subscriptions(project=f"projects/{project}"):
            subscriptions[s.name] = {
                "topic": s.topic,
                "push_endpoint": s.push_config.push_endpoint or None,
                "ack_deadline_seconds": s.ack_deadline_seconds,
                "dead_letter_topic": s.dead_letter_policy.dead_letter_topic or None,
                "max_delivery_attempts": s.dead_letter_policy.max_delivery_attempts or None,
            }
        return {"topics": topics, "subscriptions": subscriptions}
    finally:
        subscriber.close()
        publisher.stop()


def _ensure_topic(publisher: pubsub_v1.PublisherClient, path: str) -> None:
    try:
        publisher.create_topic(name=path)
        logger.info("created topic %s", path)
    except gexc.AlreadyExists:
        pass


def _ensure_subscription(subscriber: pubsub_v1.SubscriberClient, wanted: pubsub_v1.types.Subscription) -> None:
    try:
        subscriber.create_subscription(request=wanted)
        logger.info("created subscription %s", wanted.name)
        return
    except gexc.AlreadyExists:
        pass
    current = subscriber.get_subscription(subscription=wanted.name)
    drifted = [field for field in ("push_config", "ack_deadline_seconds", "dead_letter_policy")
               if getattr(current, field) != getattr(wanted, field)]
    if drifted:
        subscriber.update_subscription(subscription=wanted,
                                       update_mask=field_mask_pb2.FieldMask(paths=drifted))
        logger.info("updated %s of subscription %s", ", ".join(drifted), wanted.name)
