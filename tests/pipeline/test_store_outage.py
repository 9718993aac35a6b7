"""Elasticsearch down: the pipeline answers non-2xx so Pub/Sub redelivers, and the data arrives once it is back.

The outage is real (the stand-in process is stopped) and private to this test: its own stand-in, its own pipeline
instance, and its own push subscription on the telemetry topic, so other tests' data flows on meanwhile.
"""

import time

import orjson
import pytest
import requests
from elasticsearch import Elasticsearch
from google.cloud import pubsub_v1
from google.protobuf import duration_pb2

from emulators.elastic.launcher import start
from tests.pipeline.conftest import envelope, telemetry, wait_for_points
from tests.support.names import unique

pytestmark = pytest.mark.e2e


@pytest.fixture
def outage(stack, tmp_path, gateway):
    """A stand-in, a pipeline indexing into it and a push subscription delivering to that pipeline."""
    journal = str(tmp_path / "journal.jsonl")
    standins = [start(0, journal, log_path=tmp_path / "standin-0.log")]
    key = unique("pl-outage")
    stack.start_service("pipeline", key=key, extra_env={"ELASTICSEARCH_URL": standins[0].url})
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(stack.project, unique("outage-push"))
    subscriber.create_subscription(request=pubsub_v1.types.Subscription(
        name=subscription, topic=f"projects/{stack.project}/topics/telemetry", ack_deadline_seconds=10,
        push_config=pubsub_v1.types.PushConfig(push_endpoint=stack.url(key, "/pubsub/push")),
        retry_policy=pubsub_v1.types.RetryPolicy(minimum_backoff=duration_pb2.Duration(seconds=1),
                                                 maximum_backoff=duration_pb2.Duration(seconds=5))))

    class Outage:
        url = stack.url(key)
        log = stack.log_dir / f"{key}.log"

        @staticmethod
        def stop_elasticsearch() -> None:
            standins[-1].stop()

        @staticmethod
        def restart_elasticsearch() -> Elasticsearch:
            port = standins[0].port
            standins.append(start(port, journal, log_path=tmp_path / f"standin-{len(standins)}.log"))
            return Elasticsearch(standins[-1].url, request_timeout=30)

    yield Outage
    subscriber.delete_subscription(subscription=subscription)
    subscriber.close()
    stack.stop_service(key)
    for standin in standins:
        standin.stop()


def test_a_push_during_an_outage_is_refused_and_redelivered_after_it(outage, gateway, seed):
    device = seed()
    temp = device.sensors["temp"]
    outage.stop_elasticsearch()

    direct = requests.post(f"{outage.url}/pubsub/push", timeout=60, data=envelope(*telemetry(
        device, [{"sensor_id": temp, "type": "double", "timestamp": "2025-11-28T08:00:00Z", "value": 1.0}])))
    assert direct.status_code == 503
    assert direct.headers["Retry-After"]

    readings = [{"sensor_id": temp, "timestamp": 1764316800 + i, "value": 10.0 + i} for i in range(3)]
    response = requests.post(gateway, data=orjson.dumps(readings), timeout=15,
                             headers={"Content-Type": "application/json", "Authorization": f"Bearer {device.token}"})
    assert response.json() == {"accepted": 3, "replaced": 0}
    # Wait until the emulator's push of that message was refused at least once (the pipeline logs each refusal).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _refusals(outage.log) < 2:
        time.sleep(0.5)
    assert _refusals(outage.log) >= 2, "the pushed message was never refused"

    es = outage.restart_elasticsearch()
    points = wait_for_points(es, temp, "double", 3, timeout=180, order="asc")
    assert [p["value"] for p in points] == [10.0, 11.0, 12.0]
    assert requests.get(f"{outage.url}/healthz", timeout=5).status_code == 200


def _refusals(log) -> int:
    if not log.exists():
        return 0
    return sum("asking for redelivery" in line for line in log.read_text(errors="replace").splitlines())
