"""Readings through real processes: gateway-http → Pub/Sub emulator push → pipeline → Elasticsearch → reads."""

import statistics

import orjson
import pytest
import requests

from infra.adapters.firestore_rejections import FirestoreRejections
from infra.adapters.elasticsearch import downsample, read_points
from tests.pipeline.conftest import count_documents, envelope, telemetry, wait_for_points

pytestmark = pytest.mark.e2e


def send(gateway: str, token: str, body) -> requests.Response:
    return requests.post(gateway, data=orjson.dumps(body), timeout=15,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def test_readings_in_every_timestamp_form_arrive_exactly(pipeline, gateway, seed, pl_es):
    device = seed()
    temp, count, door, label = (device.sensors[n] for n in ("temp", "count", "door", "label"))
    sent = [
        ({"sensor_id": temp, "timestamp": 1764300000, "value": 1.5}, "2025-11-28T03:20:00.000000000Z", 1.5),
        ({"sensor_id": temp, "timestamp": 1764300001123, "value": "2.25"}, "2025-11-28T03:20:01.123000000Z", 2.25),
        ({"sensor_id": temp, "timestamp": 1764300002123456, "value": 3}, "2025-11-28T03:20:02.123456000Z", 3.0),
        ({"sensor_id": temp, "timestamp": 1764300003123456789, "value": -4.75}, "2025-11-28T03:20:03.123456789Z",
         -4.75),
        ({"sensor_id": temp, "timestamp": "2025-11-28T03:20:04.987654321Z", "value": 5.5},
         "2025-11-28T03:20:04.987654321Z", 5.5),
        ({"sensor_id": temp, "timestamp": "2025-11-28T04:20:05.5+01:00", "value": 6}, "2025-11-28T03:20:05.500000000Z",
         6.0),
    ]
    assert send(gateway, device.token, [record for record, _, _ in sent[:3]]).json() == {"accepted": 3, "replaced": 0}
    assert send(gateway, device.token, [record for record, _, _ in sent[3:]]).json() == {"accepted": 3, "replaced": 0}
    others = [{"sensor_id": count, "timestamp": 1764300000, "value": "9007199254740993"},
              {"sensor_id": door, "timestamp": 1764300000, "value": "true"},
              {"sensor_id": label, "timestamp": 1764300000, "value": 42}]
    assert send(gateway, device.token, others).json() == {"accepted": 3, "replaced": 0}

    points = wait_for_points(pl_es, temp, "double", len(sent))
    assert points == [{"timestamp": ts, "value": value} for _, ts, value in reversed(sent)]
    ascending, _ = read_points(pl_es, temp, "double", order="asc")
    assert ascending == points[::-1]
    assert wait_for_points(pl_es, count, "long", 1) == [{"timestamp": "2025-11-28T03:20:00.000000000Z",
                                                          "value": 9007199254740993}]
    assert wait_for_points(pl_es, door, "boolean", 1)[0]["value"] is True
    assert wait_for_points(pl_es, label, "keyword", 1)[0]["value"] == "42"

    [minute] = downsample(pl_es, temp, "double", None, None, "1m", "avg")
    assert minute == {"timestamp": "2025-11-28T03:20:00.000000000Z",
                      "value": pytest.approx(statistics.mean(value for _, _, value in sent))}
    pairs = downsample(pl_es, temp, "double", None, None, "2s", "max", order="asc")
    assert pairs == [{"timestamp": "2025-11-28T03:20:00.000000000Z", "value": 2.25},
                     {"timestamp": "2025-11-28T03:20:02.000000000Z", "value": 3.0},
                     {"timestamp": "2025-11-28T03:20:04.000000000Z", "value": 6.0}]


def test_the_same_message_pushed_twice_yields_one_document_each(pipeline, seed, pl_es):
    device = seed()
    temp = device.sensors["temp"]
    records = [{"sensor_id": temp, "type": "double", "timestamp": f"2025-11-28T05:00:0{i}.000000001Z", "value": i}
               for i in range(3)]
    body = envelope(*telemetry(device, records), message_id="424242")
    for _ in range(2):
        response = requests.post(f"{pipeline}/pubsub/push", data=body, timeout=15,
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 204, response.text
    assert count_documents(pl_es, temp) == 3


def test_the_pipeline_is_healthy_with_the_template_installed(pipeline, pl_es):
    assert requests.get(f"{pipeline}/healthz", timeout=5).json()["status"] == "ok"
    [template] = pl_es.indices.get_index_template(name="telemetry")["index_templates"]
    assert template["index_template"]["index_patterns"] == ["telemetry-*"]


POISON = [
    pytest.param(b"this is not json", "not JSON", id="body-not-json"),
    pytest.param(orjson.dumps({"subscription": "x"}), "no message", id="no-message"),
    pytest.param(orjson.dumps({"message": {"data": "%%%not base64%%%", "messageId": "1",
                                           "attributes": {"schema": "telemetry/v1"}}}), "base64", id="not-base64"),
]


@pytest.mark.parametrize("body, reason", POISON)
def test_a_malformed_push_is_acknowledged_and_recorded(pipeline, firestore_db, body, reason):
    response = requests.post(f"{pipeline}/pubsub/push", data=body, timeout=15)
    assert response.status_code == 204
    recorded = [doc.to_dict() for doc in firestore_db.collection("rejections").stream()]
    assert [r["reason"] for r in recorded if reason in r["reason"]], recorded


@pytest.mark.parametrize("mutate, reason", [
    (lambda data, attrs: (b"{not json", attrs), "not JSON"),
    (lambda data, attrs: (data, {**attrs, "schema": "telemetry/v0"}), "schema"),
    (lambda data, attrs: ({**data, "records": []}, attrs), "no records"),
    (lambda data, attrs: ({k: v for k, v in data.items() if k != "gateway"}, attrs), "gateway"),
])
def test_a_message_of_the_wrong_shape_is_acknowledged_and_its_owner_sees_it(pipeline, seed, firestore_db, mutate,
                                                                              reason):
    device = seed()
    data, attributes = mutate(*telemetry(device, [{"sensor_id": device.sensors["temp"], "type": "double",
                                                   "timestamp": "2025-11-28T06:00:00Z", "value": 1}]))
    response = requests.post(f"{pipeline}/pubsub/push", data=envelope(data, attributes, message_id="777"), timeout=15)
    assert response.status_code == 204
    [rejection] = FirestoreRejections(firestore_db).list(device.owner_id, device.id)
    assert reason in rejection["reason"]
    assert (rejection["message_id"], rejection["source"], rejection["part"]) == ("777", "pipeline", "message")
    assert rejection["sample"]


@pytest.fixture
def conflicting_index(pl_es):
    """``telemetry-1999.01`` created by hand with a mapping that refuses doubles: Elasticsearch answers 400."""
    name = "telemetry-1999.01"
    pl_es.options(ignore_status=400).indices.create(
        index=name, mappings={"properties": {"value_double": {"type": "boolean"}}})
    yield name
    pl_es.indices.delete(index=name)


def test_good_records_are_indexed_and_bad_ones_recorded_in_the_same_message(pipeline, seed, firestore_db, pl_es,
                                                                            conflicting_index):
    device = seed()
    temp, door = device.sensors["temp"], device.sensors["door"]
    records = [{"sensor_id": temp, "type": "double", "timestamp": "2025-11-28T07:00:00Z", "value": 20.5},
               {"sensor_id": door, "type": "boolean", "timestamp": "2025-11-28T07:00:00Z", "value": "perhaps"},
               {"sensor_id": temp, "type": "double", "timestamp": "1999-01-15T00:00:00Z", "value": 19.25},
               {"sensor_id": temp, "type": "double", "timestamp": "2025-11-28T07:00:01Z", "value": 21.0}]
    body = envelope(*telemetry(device, records), message_id="31337")
    assert requests.post(f"{pipeline}/pubsub/push", data=body, timeout=15).status_code == 204
    points, _ = read_points(pl_es, temp, "double", order="asc")
    assert [p["value"] for p in points] == [20.5, 21.0]
    by_part = {r["part"]: r for r in FirestoreRejections(firestore_db).list(device.owner_id, device.id)}
    assert set(by_part) == {"record-1", "record-2"}
    assert by_part["record-1"]["sensor_id"] == door and "true or false" in by_part["record-1"]["reason"]
    assert by_part["record-2"]["sensor_id"] == temp
    assert "refused by Elasticsearch (400" in by_part["record-2"]["reason"]
    # A redelivery records nothing new: rejection ids derive from the message.
    assert requests.post(f"{pipeline}/pubsub/push", data=body, timeout=15).status_code == 204
    assert len(FirestoreRejections(firestore_db).list(device.owner_id, device.id)) == 2
    assert count_documents(pl_es, temp) == 2
