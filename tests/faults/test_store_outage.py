"""Elasticsearch down for longer than several redeliveries: nothing accepted is dead-lettered within the outage
budget, everything is stored once it is back; and what a shorter policy did dead-letter is replayed.

The outage is real (the stand-in process is stopped) and private to each test: its own stand-in, its own pipeline
instance and its own push subscriptions on ``telemetry``, each with a dead-letter topic and hold subscription of
its own, so other tests' data flows on meanwhile. The number of attempts is the real policy's
(``infra/pubsub_topology.json``); the backoff is scaled down to the emulator's redelivery about a second apart
(tests/faults/conftest.py says why). A control subscription with the former policy, 5 attempts (the fewest Pub/Sub
allows), shows that the emulator does enforce dead-lettering: the same messages, refused as often, are
dead-lettered there and not under the real policy.
"""

import os
import subprocess
import sys
import time

import pytest
import requests
from elasticsearch import Elasticsearch
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from emulators.elastic.launcher import start
from infra.config import ROOT, PubSubTopology
from tests.faults.conftest import REDELIVERY_DELAY, delete_subscription, push_subscription
from tests.pipeline.conftest import envelope, telemetry
from tests.support.fleet import ResendingDevice
from tests.support.names import unique
from tests.support.pubsub import TelemetryTap
from tests.support.reconcile import stored_readings

pytestmark = pytest.mark.e2e

FORMER_ATTEMPTS = 5


@pytest.fixture
def outage(stack, tmp_path):
    """A stand-in, a pipeline indexing into it, and push subscriptions to that pipeline made by ``subscribe``."""
    journal = str(tmp_path / "journal.jsonl")
    standins = [start(0, journal, log_path=tmp_path / "standin-0.log")]
    key = unique("ft-outage")
    stack.start_service("pipeline", key=key, extra_env={"ELASTICSEARCH_URL": standins[0].url})
    publisher = pubsub_v1.PublisherClient()
    subscriptions, topics = [], []

    class Outage:
        url = stack.url(key)

        @staticmethod
        def subscribe(max_delivery_attempts: int) -> str:
            """A push subscription to the pipeline dead-lettering after that many attempts; its hold subscription."""
            topic = publisher.topic_path(stack.project, unique("ft-dead-letter"))
            publisher.create_topic(name=topic)
            topics.append(topic)
            subscriber = pubsub_v1.SubscriberClient()
            hold = subscriber.subscription_path(stack.project, unique("ft-hold"))
            subscriber.create_subscription(name=hold, topic=topic, ack_deadline_seconds=10)
            subscriber.close()
            subscriptions.append(hold)
            subscriptions.append(push_subscription(stack, stack.url(key, "/pubsub/push"), dead_letter_topic=topic,
                                                   max_delivery_attempts=max_delivery_attempts))
            return hold

        @staticmethod
        def stop_elasticsearch() -> None:
            standins[-1].stop()

        @staticmethod
        def restart_elasticsearch() -> Elasticsearch:
            port = standins[0].port
            standins.append(start(port, journal, log_path=tmp_path / f"standin-{len(standins)}.log"))
            return Elasticsearch(standins[-1].url, request_timeout=30)

    yield Outage
    for subscription in subscriptions:
        delete_subscription(subscription)
    for topic in topics:
        publisher.delete_topic(topic=topic)
    stack.stop_service(key)
    for standin in standins:
        standin.stop()


def test_elasticsearch_down_for_longer_than_several_redeliveries(outage, gateways, seed, ledger, reconciled):
    real = outage.subscribe(PubSubTopology.load().max_delivery_attempts)
    control = outage.subscribe(FORMER_ATTEMPTS)
    outage.stop_elasticsearch()
    device = seed()

    direct = requests.post(f"{outage.url}/pubsub/push", timeout=60, data=envelope(*telemetry(
        device, [{"sensor_id": device.sensors["temp"], "type": "double", "timestamp": "2025-11-28T08:00:00Z",
                  "value": 1.0}])))
    assert direct.status_code == 503 and direct.headers["Retry-After"]
    _send(gateways, device, ledger, messages=10)

    # Every message was refused FORMER_ATTEMPTS times by now on both subscriptions: dead-lettered under the
    # former policy, still redelivered under the real one.
    assert len(_wait_held(control, 10)) == 10
    assert _held(real) == []
    es = outage.restart_elasticsearch()
    reconciled(es, ledger)
    assert _held(real) == []
    assert requests.get(f"{outage.url}/healthz", timeout=5).status_code == 200


def test_dead_letters_replayed_into_telemetry_are_indexed_once(stack, outage, gateways, seed, ledger, reconciled,
                                                               tap):
    hold = outage.subscribe(FORMER_ATTEMPTS)
    outage.stop_elasticsearch()
    device = seed()
    _send(gateways, device, ledger, messages=4)
    assert len(_wait_held(hold, 4)) == 4
    es = outage.restart_elasticsearch()
    time.sleep(3 * REDELIVERY_DELAY)  # time for redeliveries, had the messages not been dead-lettered
    assert stored_readings(es, ledger.sensors) == []

    telemetry = tap()
    assert "replayed 1 dead letter(s)" in _replay(stack, hold, "--limit", "1")
    assert "replayed 3 dead letter(s)" in _replay(stack, hold)
    reconciled(es, ledger)
    assert _held(hold) == []
    # Republished unchanged: the gateway's attributes, plus those Pub/Sub added when it dead-lettered them.
    replayed = telemetry.messages(device.id, 4)
    assert [m["attributes"]["schema"] for m in replayed] == ["telemetry/v1"] * 4
    assert {m["attributes"]["CloudPubSubDeadLetterSourceDeliveryCount"] for m in replayed} == {str(FORMER_ATTEMPTS)}


@pytest.fixture
def tap(stack):
    """Start seeing what reaches ``telemetry`` from the moment it is called."""
    taps = []
    yield lambda: taps.append(TelemetryTap(stack.project)) or taps[-1]
    for telemetry in taps:
        telemetry.close()


def _send(gateways, device, ledger, *, messages: int) -> None:
    """Send ``messages`` messages of 10 readings over HTTP, each until it is accepted."""
    ResendingDevice("http", gateways.connector("http", device), ledger, device.sensors["count"], records=10,
                    messages=messages, interval=0).start().join()
    assert len(ledger.accepted) == 10 * messages


def _held(hold: str, wait: float = 2.0) -> list[str]:
    """Ids of the messages a hold subscription has; handed back at once (ack deadline 0), not consumed."""
    subscriber = pubsub_v1.SubscriberClient()
    try:
        received = subscriber.pull(subscription=hold, max_messages=100, timeout=wait).received_messages
    except gexc.DeadlineExceeded:
        received = []
    if received:
        subscriber.modify_ack_deadline(subscription=hold, ack_ids=[m.ack_id for m in received], ack_deadline_seconds=0)
    subscriber.close()
    return sorted(m.message.message_id for m in received)


def _wait_held(hold: str, count: int, timeout: float = 90.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(held := _held(hold)) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    return held


def _replay(stack, hold: str, *args: str) -> str:
    """Run the operator's command on a hold subscription of this test; its output."""
    result = subprocess.run([sys.executable, "-m", "infra.ops.dead_letters", "replay", "--subscription",
                             hold.rsplit("/", 1)[1], *args], env={**os.environ, **stack.env()}, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout
