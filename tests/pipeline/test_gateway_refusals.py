"""A payload gateway-mqtt refuses is acknowledged and recorded where its owner sees it, under the gateway's IAM.

Issue 14, defect 1: gateway-mqtt wrote refusals to Firestore itself but holds datastore.viewer, so in production every
invalid publish failed, the device got DISCONNECT 0x89 and resent it forever. The local stack now refuses that write
as IAM does (infra/wiring/local_iam.py); the gateway reports the refusal on Pub/Sub and the pipeline records it.
Real processes: gateway-mqtt, the Pub/Sub emulator's push to the pipeline, Firestore's emulator.
"""

import subprocess
import time

import orjson
import pytest
import requests

from emulators.process import free_port
from infra.adapters.firestore_rejections import FirestoreRejections
from infra.domain.rejections import REFUSAL_SCHEMA
from tests.pipeline.conftest import envelope
from tests.support.tools import command

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mqtt_port(stack, pipeline):
    """A gateway-mqtt instance of these tests (TCP port), with the pipeline the push subscription targets."""
    port = free_port()
    stack.start_service("gateway-mqtt", key="refusals-gateway-mqtt", extra_env={"IOT_MQTT_TCP_PORT": str(port)})
    yield port
    stack.stop_service("refusals-gateway-mqtt")


def wait_for_rejections(firestore_db, owner_id: str, device_id: str, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = FirestoreRejections(firestore_db).list(owner_id, device_id)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no rejection of {device_id} was recorded within {timeout:g}s")


def test_an_invalid_mqtt311_publish_gets_its_puback_and_the_pipeline_records_why(mqtt_port, seed, firestore_db):
    mosquitto_pub = command("mosquitto_pub", "apt-get install mosquitto-clients (the Makefile does)")
    device = seed()
    body = orjson.dumps([{"sensor_id": device.sensors["door"], "value": "ajar"}]).decode()
    # QoS 1 over MQTT 3.1.1: mosquitto_pub exits 0 only once the PUBACK came, 1 when the gateway closed instead.
    result = subprocess.run([mosquitto_pub, "-h", "127.0.0.1", "-p", str(mqtt_port), "-V", "mqttv311", "-q", "1",
                             "-u", "JWT", "-P", device.token, "-t", f"devices/{device.id}/telemetry", "-m", body],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    [rejection] = wait_for_rejections(firestore_db, device.owner_id, device.id)
    assert rejection["source"] == "gateway-mqtt"
    assert "record 0" in rejection["reason"] and "ajar" in rejection["sample"]


def refusal(device, **data) -> tuple[dict, dict]:
    """A ``refusal/v1`` message of ``device`` as gateway-mqtt publishes it (``Ingestor.refusal``)."""
    report = {"device_id": device.id, "owner_id": device.owner_id, "gateway": "mqtt",
              "received_at": "2026-11-28T03:00:00.000000000Z", "reason": "bad readings", "sample": "[1]", **data}
    return report, {"device_id": device.id, "owner_id": device.owner_id, "gateway": "mqtt", "schema": REFUSAL_SCHEMA}


def test_a_reported_refusal_is_recorded_once_however_often_it_is_pushed(pipeline, seed, firestore_db):
    device = seed()
    body = envelope(*refusal(device), message_id="4242")
    for _ in range(2):  # a redelivery overwrites the same record
        assert requests.post(f"{pipeline}/pubsub/push", data=body, timeout=15).status_code == 204
    [recorded] = FirestoreRejections(firestore_db).list(device.owner_id, device.id)
    assert (recorded["source"], recorded["reason"], recorded["sample"], recorded["message_id"]) == (
        "gateway-mqtt", "bad readings", "[1]", "4242")


def test_a_malformed_refusal_is_recorded_as_the_pipelines_own(pipeline, seed, firestore_db):
    device = seed()
    data, attributes = refusal(device, reason=None)
    assert requests.post(f"{pipeline}/pubsub/push", data=envelope(data, attributes), timeout=15).status_code == 204
    [recorded] = FirestoreRejections(firestore_db).list(device.owner_id, device.id)
    assert recorded["source"] == "pipeline" and "lacks its reason" in recorded["reason"]
