"""Cloud Run's CPU model: an instance has CPU only while it serves a request; between requests none of its processes
runs. Locally that is every process of a service stopped (SIGSTOP to its process group) while it is idle, and
resumed (SIGCONT) when the next request comes; that request must succeed, served by the same processes.

What this model broke in production (issue 14.2): gunicorn's arbiter kills a worker whose heartbeat is older than
its timeout, and a worker without CPU cannot beat, so the old ``timeout: 120`` killed the worker on the first request
after an idle spell. The freeze here lasts seconds, not minutes (there is no worker-timeout setting to shorten), and
CPU comes back in the worst order, the arbiter first: with run/server.py's timeout set to 2 s instead of 0 the worker
is killed and replaced and the gateway-http test fails; tests/unit/test_server_options.py proves the real value and
that gunicorn's arbiter kills nothing with it after an hour without a heartbeat. The services' gRPC channels to
Pub/Sub and Firestore come back from the freeze too: the next request publishes and, its device cache expired,
reads Firestore again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest
import requests

from emulators.process import ManagedProcess, free_port
from tests.support.devices import issuer, seed  # noqa: F401  (fixtures used by the tests)
from tests.support.tools import command

pytestmark = pytest.mark.e2e

FREEZE_SECONDS = 4.0
LEADER_HEAD_START = 1.5  # more than the arbiter's 1 s loop: it checks the heartbeats before any worker runs
# The device cache expires during the freeze, so the next request reads Firestore again.
ENV = {"IOT_REVOCATION_CACHE_TTL": "1"}


def group_pids(process: ManagedProcess) -> set[int]:
    """Every process of ``process``'s group (gunicorn: the arbiter and its workers)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while listed
            continue
        if int(fields[2]) == process.pid:  # the process group id
            found.add(int(stat.parent.name))
    return found


def idle_without_cpu(process: ManagedProcess, seconds: float = FREEZE_SECONDS) -> None:
    """Freeze every process of ``process``'s group for ``seconds``, then give CPU back in the worst order: the group
    leader (gunicorn's arbiter, which would judge the workers' heartbeats) runs ``LEADER_HEAD_START`` seconds before the
    others (its workers) run at all."""
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
        os.kill(process.pid, signal.SIGCONT)
        time.sleep(LEADER_HEAD_START)
    finally:
        os.killpg(process.pid, signal.SIGCONT)


def post_reading(url: str, device) -> requests.Response:
    body = orjson.dumps({"sensor_id": device.sensors["temp"], "value": 21.5})
    return requests.post(url, data=body, timeout=30,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {device.token}"})


@pytest.fixture(scope="module")
def gateway_http(stack):
    key = "cpu-gateway-http"
    stack.start_service("gateway-http", key=key, extra_env=ENV)
    yield stack.url(key), stack.processes[key]
    stack.stop_service(key)


@pytest.fixture(scope="module")
def gateway_mqtt(stack):
    key, port = "cpu-gateway-mqtt", free_port()
    stack.start_service("gateway-mqtt", key=key, extra_env={**ENV, "IOT_MQTT_TCP_PORT": str(port)})
    yield port, stack.processes[key]
    stack.stop_service(key)


def test_gateway_http_serves_the_first_request_after_a_freeze_with_the_same_worker(gateway_http, seed):
    url, process = gateway_http
    device = seed()
    assert post_reading(url, device).status_code == 200  # warm: clients connected, the device cached
    processes = group_pids(process)
    assert len(processes) == 2 and process.pid in processes  # the arbiter and its one worker
    idle_without_cpu(process)
    reply = post_reading(url, device)
    assert reply.status_code == 200 and reply.json()["accepted"] == 1
    assert group_pids(process) == processes  # no worker was killed and replaced


def test_gateway_mqtt_serves_the_first_publish_after_a_freeze(gateway_mqtt, seed):
    port, process = gateway_mqtt
    mosquitto_pub = command("mosquitto_pub", "apt-get install mosquitto-clients (the Makefile does)")
    device = seed()

    def publish() -> subprocess.CompletedProcess:  # QoS 1: exit 0 only once the PUBACK came
        body = orjson.dumps({"sensor_id": device.sensors["temp"], "value": 21.5}).decode()
        return subprocess.run([mosquitto_pub, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-u", "JWT",
                               "-P", device.token, "-t", f"devices/{device.id}/telemetry", "-m", body],
                              capture_output=True, text=True, timeout=30)

    assert publish().returncode == 0
    idle_without_cpu(process)
    result = publish()
    assert result.returncode == 0, result.stderr
    assert group_pids(process) == {process.pid}
