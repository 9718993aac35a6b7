"""A QoS 1 publish resent after a lost PUBACK is stored once, even when its readings carry no timestamp (issue 11).

Real processes: gateway-mqtt, the Pub/Sub emulator's push to the pipeline, the Elasticsearch stand-in. The device
is a raw socket speaking the gateway's codec, so the test decides exactly what is sent and when it is cut.
"""

from dataclasses import replace

import orjson
import pytest

from emulators.process import free_port, wait_until
from infra.adapters.elasticsearch import ALIAS
from run.gateway_mqtt.codec import MQTT_3_1_1, MQTT_5, Connect, PubAck, Publish
from tests.support.mqtt_peer import RawPeer

pytestmark = pytest.mark.e2e

READINGS = 5


@pytest.fixture(scope="module")
def mqtt_port(stack, pipeline):
    """A gateway-mqtt of these tests (TCP on its own port)."""
    port = free_port()
    stack.start_service("gateway-mqtt", key="resend-gateway-mqtt", extra_env={
        "IOT_INGEST_RATE": "1000", "IOT_INGEST_BURST": "1000", "IOT_MQTT_TCP_PORT": str(port)})
    yield port
    stack.stop_service("resend-gateway-mqtt")


def connect(port: int, version: int, token: str) -> RawPeer:
    peer = RawPeer(port, version, timeout=30)
    peer.send(Connect("boiler-1", version, username="JWT", password=token.encode()))
    assert peer.receive().reason_code == 0
    return peer


def stored(es, sensor_id: str) -> list[tuple[float, int]]:
    """(value, version) of every document of the sensor; a document written twice has version 2."""
    es.indices.refresh(index=ALIAS)
    hits = es.search(index=ALIAS, query={"term": {"sensor_id": sensor_id}}, size=100, version=True)["hits"]["hits"]
    return [(hit["_source"]["value_double"], hit["_version"]) for hit in hits]


@pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5], ids=["3.1.1", "5"])
def test_a_resend_after_a_lost_puback_is_stored_once(mqtt_port, seed, pl_es, request, version):
    device = seed()
    temp = device.sensors["temp"]
    payload = orjson.dumps([{"sensor_id": temp, "value": value} for value in range(READINGS)])  # no timestamps
    publish = Publish(f"devices/{device.id}/telemetry", payload, qos=1, packet_id=7)

    first = connect(mqtt_port, version, device.token)
    first.send(publish)
    assert first.receive() == PubAck(7)  # the gateway has published it and answered...
    first.close()  # ...but the connection drops before the device handles the PUBACK: it still holds the message

    second = connect(mqtt_port, version, device.token)
    second.send(replace(publish, dup=True))  # resent as MQTT says: same packet id, DUP set
    assert second.receive() == PubAck(7)
    second.close()

    # Both deliveries reached the store once each writes have landed: 2 x READINGS writes in all, whether they
    # went to the same documents (version 2) or to new ones.
    wait_until(lambda: sum(version for _, version in stored(pl_es, temp)) >= 2 * READINGS, timeout=60,
               what="both deliveries indexed")
    documents = stored(pl_es, temp)
    values = [value for value, _ in documents]
    lost = len(set(range(READINGS)) - set(values))
    duplicated = len(values) - len(set(values))
    print(f"{request.node.name}: accepted {READINGS}, indexed {len(values)}, lost {lost}, duplicated {duplicated}")
    assert (len(values), lost, duplicated) == (READINGS, 0, 0)
