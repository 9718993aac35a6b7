"""Stand-in-only behaviour: fault injection, durability across restarts, journal compaction, clean shutdown.

Each test runs its own stand-in process, so injected faults and restarts cannot disturb other tests; all
are skipped when ELASTICSEARCH_URL points at a real cluster.
"""

from __future__ import annotations

import os
import signal

import orjson
import pytest
import requests
from elasticsearch import ApiError, Elasticsearch, helpers

from emulators.elastic.launcher import start
from emulators.process import StartupError


def client(url: str) -> Elasticsearch:
    """A client that does not retry, so injected failures reach the test."""
    return Elasticsearch(url, max_retries=0, retry_on_status=())


def test_bulk_item_429_injection(private_standin):
    standin = private_standin(None)
    es = client(standin.url)
    resp = requests.post(f"{standin.url}/_standin/faults", json={"bulk_item_429": 2}, timeout=10)
    assert resp.json()["pending"]["bulk_item_429"] == 2
    result = es.bulk(operations=[x for i in range(4) for x in ({"index": {"_index": "f", "_id": str(i)}}, {"n": i})])
    assert result["errors"] is True
    statuses = [item["index"]["status"] for item in result["items"]]
    assert statuses == [429, 429, 201, 201]
    assert result["items"][0]["index"]["error"]["type"] == "es_rejected_execution_exception"
    assert es.count(index="f")["count"] == 2
    assert requests.get(f"{standin.url}/_standin/faults", timeout=10).json()["pending"]["bulk_item_429"] == 0


def test_helpers_bulk_retries_429_items(private_standin):
    standin = private_standin(None)
    es = client(standin.url)
    requests.post(f"{standin.url}/_standin/faults", json={"bulk_item_429": 3}, timeout=10)
    # helpers.bulk only retries 429 items when it is not raising on item errors (same against real ES).
    ok, errors = helpers.bulk(es, ({"_index": "r", "_id": str(i), "_source": {"n": i}} for i in range(10)),
                              max_retries=3, initial_backoff=0.01, raise_on_error=False)
    assert ok == 10 and errors == []
    assert es.count(index="r")["count"] == 10


def test_reject_requests_503_injection(private_standin):
    standin = private_standin(None)
    es = client(standin.url)
    es.indices.create(index="x")
    requests.post(f"{standin.url}/_standin/faults", json={"reject_requests_503": 2}, timeout=10)
    for _ in range(2):
        with pytest.raises(ApiError) as info:
            es.count(index="x")
        assert info.value.meta.status == 503
        assert info.value.meta.headers.get("X-Elastic-Product") == "Elasticsearch"
    assert es.count(index="x")["count"] == 0
    requests.post(f"{standin.url}/_standin/faults", json={"reject_requests_503": 5}, timeout=10)
    cleared = requests.delete(f"{standin.url}/_standin/faults", timeout=10).json()
    assert cleared["pending"] == {"bulk_item_429": 0, "reject_requests_503": 0}
    assert es.count(index="x")["count"] == 0


def test_bad_fault_request_is_400(private_standin):
    standin = private_standin(None)
    resp = requests.post(f"{standin.url}/_standin/faults", json={"nope": 1}, timeout=10)
    assert resp.status_code == 400 and "nope" in resp.json()["error"]["reason"]


def test_everything_survives_a_restart(private_standin, tmp_path):
    data = str(tmp_path / "journal.jsonl")
    first = private_standin(data)
    es = client(first.url)
    es.indices.put_index_template(name="tpl", index_patterns=["tel-*"], priority=5, template={
        "mappings": {"properties": {"@timestamp": {"type": "date_nanos"}, "v": {"type": "double"}}},
        "aliases": {"tel": {}}})
    helpers.bulk(es, ({"_index": "tel-a", "_id": str(i), "_source": {"@timestamp": f"2024-01-01T00:00:00.{i:09d}Z",
                                                                     "v": i, "extra": "x"}} for i in range(500)))
    es.delete(index="tel-a", id="3")
    es.index(index="tel-a", id="4", document={"@timestamp": "2024-01-02T00:00:00Z", "v": 40})
    es.indices.create(index="other", mappings={"properties": {"k": {"type": "keyword"}}})
    es.indices.update_aliases(actions=[{"add": {"index": "other", "alias": "both"}},
                                       {"add": {"index": "tel-a", "alias": "both"}}])
    es.indices.create(index="gone")
    es.indices.delete(index="gone")
    before = es.search(index="tel", sort=[{"@timestamp": "desc"}], size=3)["hits"]["hits"]
    mapping_before = es.indices.get_mapping(index="tel-a")
    assert first.stop() == 0

    second = private_standin(data)
    es = client(second.url)
    assert es.count(index="tel")["count"] == 499
    assert es.get(index="tel-a", id="4")["_source"]["v"] == 40
    assert es.get(index="tel-a", id="4")["_version"] == 2
    assert not es.exists(index="tel-a", id="3")
    assert not es.indices.exists(index="gone")
    assert es.indices.get_mapping(index="tel-a") == mapping_before
    assert set(es.indices.get_alias(name="both")) == {"other", "tel-a"}
    assert es.search(index="tel", sort=[{"@timestamp": "desc"}], size=3)["hits"]["hits"] == before
    es.index(index="tel-b", id="n", document={"@timestamp": "2024-02-01T00:00:00Z", "v": 1})
    assert "tel" in es.indices.get_alias(index="tel-b")["tel-b"]["aliases"]  # the template survived too
    second.stop()


def test_kill_without_shutdown_keeps_acknowledged_writes(private_standin, tmp_path):
    data = str(tmp_path / "journal.jsonl")
    first = private_standin(data)
    es = client(first.url)
    helpers.bulk(es, ({"_index": "k", "_id": str(i), "_source": {"n": i}} for i in range(100)))
    os.kill(first.pid, signal.SIGKILL)
    first.process.popen.wait(10)
    second = private_standin(data)
    assert client(second.url).count(index="k")["count"] == 100


def test_torn_last_journal_line_is_dropped(private_standin, tmp_path):
    data = tmp_path / "journal.jsonl"
    first = private_standin(str(data))
    client(first.url).index(index="j", id="1", document={"n": 1})
    first.stop()
    with open(data, "ab") as f:
        f.write(b'{"op":"doc","i":"j","id":"2","v":1,"sq":1,"src":{"n"')  # a write cut short by a crash
    second = private_standin(str(data))
    es = client(second.url)
    assert es.count(index="j")["count"] == 1
    es.index(index="j", id="3", document={"n": 3})
    second.stop()
    third = private_standin(str(data))
    assert client(third.url).count(index="j")["count"] == 2


def test_journal_is_compacted_at_start(private_standin, tmp_path):
    data = tmp_path / "journal.jsonl"
    first = private_standin(str(data))
    es = client(first.url)
    for _ in range(3):  # rewrite the same 1,000 documents three times: 3,000 records, 1,000 live
        helpers.bulk(es, ({"_index": "c", "_id": str(i), "_source": {"n": i}} for i in range(1000)))
    first.stop()
    lines_before = data.read_bytes().count(b"\n")
    second = private_standin(str(data))
    lines_after = data.read_bytes().count(b"\n")
    assert lines_before > 3000 and lines_after < 1100
    es = client(second.url)
    assert es.count(index="c")["count"] == 1000
    assert es.get(index="c", id="5")["_version"] == 3
    records = [orjson.loads(line) for line in data.read_bytes().splitlines()]
    assert records[0]["op"] == "header"


def test_in_memory_mode_forgets(private_standin):
    first = private_standin(None)
    client(first.url).index(index="m", id="1", document={"n": 1})
    first.stop()
    second = private_standin(None)
    assert not client(second.url).indices.exists(index="m")


def test_sigterm_exits_cleanly(private_standin):
    standin = private_standin(None)
    assert standin.stop() == 0
    assert not standin.process.alive()


def test_start_fails_clearly_when_the_port_is_taken(private_standin, tmp_path):
    standin = private_standin(None)
    with pytest.raises(StartupError) as info:
        start(standin.port, None, log_path=tmp_path / "second.log", timeout=10)
    assert "exited" in str(info.value) or "not ready" in str(info.value)
