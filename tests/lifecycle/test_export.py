"""A device's export through api-data: every sensor's readings in a range, CSV or NDJSON, streamed; its estimate;
who may export; and 100,000 readings streamed with the API process's memory bounded."""

import csv
import io
import tracemalloc

import orjson
import pytest
import requests

from infra.adapters.elasticsearch import build_document
from infra.adapters.elasticsearch.export import device_readings
from infra.usecases.exports import render
from tests.lifecycle.conftest import send, wait_until_counted

pytestmark = pytest.mark.e2e

BASE = 1_764_300_000  # 2025-11-28T03:20:00Z


def _export(services, client, device_id, **params):
    return requests.get(f"{services['api']}/api/exports/devices/{device_id}", params=params, stream=True,
                        headers={"Authorization": f"Bearer {client.token}"}, timeout=120)


@pytest.fixture
def device(services, lc_es, new_user):
    """A device with a double and a keyword sensor, five readings each (one keyword reading looks like a formula)."""
    owner = new_user()
    device = owner.create_device("exported")
    temp = owner.create_sensor(device["id"], "=temp", {"type": "double"})
    door = owner.create_sensor(device["id"], "door", {"type": "keyword"})
    key = owner.device_key(device["id"])["token"]
    records = [{"sensor_id": temp["id"], "timestamp": BASE + i, "value": 20 + i} for i in range(5)]
    records += [{"sensor_id": door["id"], "timestamp": BASE + i, "value": "=cmd()" if i == 0 else "open"}
                for i in range(5)]
    assert send(services, key, records).status_code == 200
    wait_until_counted(lc_es, "device_id", device["id"], 10)
    return owner, device, temp, door


def test_csv_holds_every_sensor_oldest_first_and_defused(services, device):
    owner, dev, temp, door = device
    reply = _export(services, owner, dev["id"], **{"from": BASE + 1, "to": BASE + 4})
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/csv")
    assert "Content-Length" not in reply.headers  # streamed
    assert f'filename="device-{dev["id"]}.csv"' in reply.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == ["timestamp", "sensor_id", "sensor", "type", "value"]
    assert [row[0][:19] for row in rows[1:]] == [f"2025-11-28T03:20:0{s}" for s in (1, 1, 2, 2, 3, 3)]
    assert {(row[1], row[2], row[3]) for row in rows[1:]} == {(temp["id"], "'=temp", "double"),
                                                              (door["id"], "door", "keyword")}
    assert '"door","keyword","open"' in reply.text and ',"double",21.0' in reply.text


def test_ndjson_and_the_estimate(services, device):
    owner, dev, temp, door = device
    lines = [orjson.loads(line) for line in _export(services, owner, dev["id"], format="ndjson").iter_lines()]
    assert len(lines) == 10
    assert lines[0] == {"timestamp": "2025-11-28T03:20:00.000000000Z", "sensor_id": lines[0]["sensor_id"],
                        "sensor": "=temp" if lines[0]["sensor_id"] == temp["id"] else "door",
                        "type": lines[0]["type"], "value": lines[0]["value"]}
    assert {line["value"] for line in lines if line["sensor_id"] == door["id"]} == {"=cmd()", "open"}
    estimate = owner.call("GET", f"/api/exports/devices/{dev['id']}", params={"estimate": "1", "from": BASE + 3})
    assert estimate["readings"] == 4 and estimate["sensors"] == 2 and estimate["approximate_bytes"] > 0


def test_only_the_owner_and_admins_export(services, device, new_user, admin):
    owner, dev, _, _ = device
    assert _export(services, new_user(), dev["id"]).status_code == 404
    assert _export(services, admin, dev["id"]).status_code == 200
    consumer = owner.create_consumer("c")
    key = owner.consumer_key(consumer["id"])["token"]
    assert requests.get(f"{services['api']}/api/exports/devices/{dev['id']}", timeout=30,
                        headers={"Authorization": f"Bearer {key}"}).status_code == 401
    bad = _export(services, owner, dev["id"], format="xlsx")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_query"


def test_100k_readings_stream_with_bounded_memory(services, lc_es, new_user):
    owner = new_user()
    dev = owner.create_device("big")
    sensor = owner.create_sensor(dev["id"], "counter", {"type": "long"})
    total = 100_000
    for start in range(0, total, 20_000):
        ops = []
        for i in range(start, start + 20_000):
            doc = build_document({"sensor_id": sensor["id"], "type": "long", "timestamp": (BASE + i) * 10**9,
                                  "value": i}, device_id=dev["id"], owner_id=owner.user["id"],
                                 received_at="2025-11-28T03:20:00Z", gateway="http")
            ops += [{"index": {"_index": doc.index, "_id": doc.id}}, doc.source]
        assert lc_es.bulk(operations=ops)["errors"] is False
    lc_es.indices.refresh(index="telemetry")
    assert owner.call("GET", f"/api/exports/devices/{dev['id']}", params={"estimate": "1"})["readings"] == total

    reply = _export(services, owner, dev["id"], format="csv")
    assert reply.headers.get("Transfer-Encoding") == "chunked"
    lines = size = 0
    for chunk in reply.iter_content(chunk_size=65536):
        lines += chunk.count(b"\n")
        size += len(chunk)
    assert lines == total + 1  # the header and every reading

    # The same walk and rendering in this process, its Python allocations traced: the peak stays at about a page,
    # however many pages pass. (The API worker's RSS would say less: each gunicorn thread gets its own malloc arena.)
    tracemalloc.start()
    try:
        rendered = sum(len(chunk) for chunk in render(device_readings(lc_es, dev["id"], None, None),
                                                      {sensor["id"]: "counter"}, "csv"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rendered == size
    assert peak < size / 2 and peak < 8 * 2**20, f"{peak >> 20} MB held to export {size >> 20} MB"
