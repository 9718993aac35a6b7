"""The extension point: a further push subscription on telemetry to an operator's own service. The worked example
(examples/rolling_average) receives the stream and writes a derived sensor back through gateway-http."""

import sys

import pytest
import requests
from google.cloud import pubsub_v1

from emulators.process import ManagedProcess, free_port, wait_until
from emulators.pubsub_bootstrap import ensure_topology
from infra.config import ROOT
from tests.rules.conftest import wait_for

pytestmark = pytest.mark.e2e

NAME = "rolling-average"


@pytest.fixture
def pipeline(stack, services):
    """The pipeline, so derived readings become queryable (started here unless another test package runs it)."""
    started = "pipeline" not in stack.processes
    if started:
        stack.start_service("pipeline")
    yield
    if started:
        stack.stop_service("pipeline")


@pytest.fixture
def extension(stack, services, owner):
    """The example on a free port with its own device and derived sensor, and its push subscription."""
    device = owner.create_device("derived", "the rolling-average service's own device")
    derived = owner.create_sensor(device["id"], "temperature-avg", {"type": "double"})
    key = owner.device_key(device["id"])["token"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sources = {}
    env = {"PORT": str(port), "ROLLING_GATEWAY_URL": services["gateway"], "ROLLING_DEVICE_KEY": key,
           "ROLLING_WINDOW": "2", "PATH": "/usr/bin:/bin"}
    process = None

    def start(source_id: str):
        nonlocal process
        sources[source_id] = derived["id"]
        env["ROLLING_SENSORS"] = ",".join(f"{s}={d}" for s, d in sources.items())
        process = ManagedProcess("rolling-average", [sys.executable, "-m", "examples.rolling_average"], env=env,
                                 cwd=ROOT, log_path=stack.log_dir / "rolling-average.log").start()
        wait_until(lambda: _healthy(url), timeout=30, what="the example", process=process)
        settings = stack.settings()
        ensure_topology(stack.project, settings.push_endpoint, settings.topology,
                        rules_endpoint=settings.rules_push_endpoint, extensions={NAME: url + "/pubsub/push"})
        return derived["id"]

    yield start, url
    subscriber = pubsub_v1.SubscriberClient()
    subscriber.delete_subscription(subscription=subscriber.subscription_path(
        stack.project, stack.settings().topology.extension_subscription_prefix + NAME))
    subscriber.close()
    if process is not None:
        process.stop()


def _healthy(url):
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_the_example_extension_receives_the_stream_and_writes_a_derived_sensor(owner, sensor, pipeline, extension):
    start, url = extension
    derived_id = start(sensor.id)
    sensor.send([10, 20, 30])
    points = wait_for(lambda: [p["value"] for p in owner.call(
        "GET", f"/api/sensors/{derived_id}/data", params={"order": "asc"})["points"]] or None, what="derived readings")
    # One message of three readings, a window of two: the averages of [10], [10, 20], [20, 30].
    assert points == [10.0, 15.0, 25.0]
    assert requests.get(url + "/healthz", timeout=5).json()["received"] >= 1
