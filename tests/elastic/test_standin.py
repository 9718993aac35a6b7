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


def numbered(es: Elasticsearch, index: str, count: int, value: int = 0) -> None:
    """Create ``index`` (mapping ``n: long``) unless it exists, then index documents "0" … count-1 with ``n``."""
    if not es.indices.exists(index=index):
        es.indices.create(index=index, mappings={"properties": {"n": {"type": "long"}}})
    helpers.bulk(es, ({"_index": index, "_id": str(i), "_source": {"n": value or i}} for i in range(count)))


def test_bulk_item_429_injection(private_standin):
    standin = private_standin(None)
    es = client(standin.url)
    numbered(es, "f", 0)
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
    numbered(es, "r", 0)
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
        "mappings": {"dynamic": "strict",
                     "properties": {"@timestamp": {"type": "date_nanos"}, "v": {"type": "double"}}},
        "aliases": {"tel": {}}})
    helpers.bulk(es, ({"_index": "tel-a", "_id": str(i), "_source": {"@timestamp": f"2024-01-01T00:00:00.{i:09d}Z",
                                                                     "v": i}} for i in range(500)))
    es.delete_by_query(index="tel-a", query={"ids": {"values": ["3"]}})
    helpers.bulk(es, [{"_index": "tel-a", "_id": "4", "_source": {"@timestamp": "2024-01-02T00:00:00Z", "v": 40}}])
    es.indices.create(index="other", mappings={"properties": {"k": {"type": "keyword"}}}, aliases={"both": {}})
    es.indices.create(index="gone")
    es.indices.delete(index="gone")
    es.cluster.put_settings(persistent={"cluster.max_shards_per_node": 7})
    before = es.search(index="tel", sort=[{"@timestamp": "desc"}], size=3)["hits"]["hits"]
    mapping_before = es.indices.get_mapping(index="tel-a")
    assert first.stop() == 0

    second = private_standin(data)
    es = client(second.url)
    assert es.count(index="tel")["count"] == 499
    assert es.get(index="tel-a", id="4")["_source"]["v"] == 40
    assert es.get(index="tel-a", id="4")["_version"] == 2
    assert es.count(index="tel-a", query={"ids": {"values": ["3"]}})["count"] == 0
    assert not es.indices.exists(index="gone")
    assert es.indices.get_mapping(index="tel-a") == mapping_before
    assert es.indices.get_alias(index="other")["other"]["aliases"] == {"both": {}}
    assert es.search(index="tel", sort=[{"@timestamp": "desc"}], size=3)["hits"]["hits"] == before
    helpers.bulk(es, [{"_index": "tel-b", "_id": "n", "_source": {"@timestamp": "2024-02-01T00:00:00Z", "v": 1}}])
    assert "tel" in es.indices.get_alias(index="tel-b")["tel-b"]["aliases"]  # the template survived too
    with pytest.raises(ApiError) as info:  # so did the shard limit (7): three indices of 2 shards are open
        es.indices.create(index="one-too-many")
    assert info.value.error == "validation_exception"
    second.stop()


def test_kill_without_shutdown_keeps_acknowledged_writes(private_standin, tmp_path):
    data = str(tmp_path / "journal.jsonl")
    first = private_standin(data)
    es = client(first.url)
    numbered(es, "k", 100)
    os.kill(first.pid, signal.SIGKILL)
    first.process.popen.wait(10)
    second = private_standin(data)
    assert client(second.url).count(index="k")["count"] == 100


def test_torn_last_journal_line_is_dropped(private_standin, tmp_path):
    data = tmp_path / "journal.jsonl"
    first = private_standin(str(data))
    numbered(client(first.url), "j", 1)
    first.stop()
    with open(data, "ab") as f:
        f.write(b'{"op":"doc","i":"j","id":"2","v":1,"sq":1,"src":{"n"')  # a write cut short by a crash
    second = private_standin(str(data))
    es = client(second.url)
    assert es.count(index="j")["count"] == 1
    helpers.bulk(es, [{"_index": "j", "_id": "3", "_source": {"n": 3}}])
    second.stop()
    third = private_standin(str(data))
    assert client(third.url).count(index="j")["count"] == 2


def test_journal_is_compacted_at_start(private_standin, tmp_path):
    data = tmp_path / "journal.jsonl"
    first = private_standin(str(data))
    es = client(first.url)
    for _ in range(3):  # rewrite the same 1,000 documents three times: 3,000 records, 1,000 live
        numbered(es, "c", 1000)
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
    numbered(client(first.url), "m", 1)
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
