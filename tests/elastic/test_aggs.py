"""Aggregations: date_histogram with metric sub-aggregations, empty buckets, bounds, order; top-level metrics."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
import requests
from elasticsearch import BadRequestError, helpers

BASE = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
BASE_MS = int(BASE.timestamp() * 1000)


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


@pytest.fixture
def series(es):
    """Random readings over 2 hours with a gap in the middle; returns (index, [(ms, value)])."""
    name = es.create(mappings={"dynamic": "strict", "properties": {
        "@timestamp": {"type": "date_nanos"}, "value": {"type": "double"}, "sensor_id": {"type": "keyword"},
        "n": {"type": "long"}, "ok": {"type": "boolean"}}})
    rng = random.Random(7)
    points = []
    for i in range(400):
        offset = rng.randrange(0, 7200 * 1000)
        if 1800_000 <= offset < 2400_000:  # leave minutes 30–40 empty
            continue
        points.append((BASE_MS + offset, round(rng.uniform(-50, 50), 3)))
    helpers.bulk(es.client, [{"_index": name, "_id": str(i), "_source": {
        "@timestamp": iso(BASE + timedelta(milliseconds=ms - BASE_MS)) if i % 2 else ms,
        "value": v, "sensor_id": f"s{i % 4}", "n": i, "ok": i % 3 == 0}} for i, (ms, v) in enumerate(points)],
        refresh=True)
    return name, points


def test_date_histogram_averages_match_computed_values(es, series):
    name, points = series
    resp = es.client.search(index=name, size=0, aggs={"per_5m": {
        "date_histogram": {"field": "@timestamp", "fixed_interval": "5m"},
        "aggs": {"avg": {"avg": {"field": "value"}}, "min": {"min": {"field": "value"}},
                 "max": {"max": {"field": "value"}}, "sum": {"sum": {"field": "value"}},
                 "count": {"value_count": {"field": "value"}}}}})
    assert resp["hits"]["hits"] == []
    buckets = resp["aggregations"]["per_5m"]["buckets"]
    expected = defaultdict(list)
    for ms, v in points:
        expected[ms - ms % 300_000].append(v)
    first, last = min(expected), max(expected)
    assert [b["key"] for b in buckets] == list(range(first, last + 1, 300_000))
    for bucket in buckets:
        values = expected.get(bucket["key"], [])
        assert bucket["doc_count"] == len(values)
        assert bucket["count"]["value"] == len(values)
        if values:
            assert bucket["avg"]["value"] == pytest.approx(sum(values) / len(values))
            assert bucket["min"]["value"] == pytest.approx(min(values))
            assert bucket["max"]["value"] == pytest.approx(max(values))
            assert bucket["sum"]["value"] == pytest.approx(sum(values))
        else:  # the empty buckets of the gap, returned because min_doc_count defaults to 0
            assert bucket["avg"]["value"] is None and bucket["min"]["value"] is None
            assert bucket["sum"]["value"] == 0.0
    assert any(b["doc_count"] == 0 for b in buckets)
    key = buckets[0]["key"]
    assert buckets[0]["key_as_string"] == iso(datetime.fromtimestamp(key / 1000, timezone.utc)).replace(
        ":00Z", ":00.000Z")


def test_date_histogram_min_doc_count_order_and_bounds(es, series):
    name, points = series
    aggs = {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "10m", "min_doc_count": 1,
                                     "order": {"_key": "desc"}}}}
    buckets = es.client.search(index=name, size=0, aggs=aggs)["aggregations"]["h"]["buckets"]
    keys = [b["key"] for b in buckets]
    assert keys == sorted({ms - ms % 600_000 for ms, _ in points}, reverse=True)
    assert all(b["doc_count"] > 0 for b in buckets)

    aggs = {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h",
                                     "extended_bounds": {"min": iso(BASE - timedelta(hours=2)),
                                                         "max": iso(BASE + timedelta(hours=4))}}}}
    buckets = es.client.search(index=name, size=0, aggs=aggs)["aggregations"]["h"]["buckets"]
    assert [b["key"] for b in buckets] == [BASE_MS + h * 3_600_000 for h in range(-2, 5)]
    assert sum(b["doc_count"] for b in buckets) == len(points)


def test_date_histogram_respects_the_query(es, series):
    name, points = series
    start = BASE + timedelta(minutes=60)
    resp = es.client.search(index=name, size=0, query={"range": {"@timestamp": {"gte": iso(start)}}},
                            aggs={"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "30m"}}})
    buckets = resp["aggregations"]["h"]["buckets"]
    assert sum(b["doc_count"] for b in buckets) == len([p for p in points if p[0] >= BASE_MS + 3_600_000])
    assert resp["hits"]["total"]["value"] == sum(b["doc_count"] for b in buckets)


def test_calendar_interval_and_empty_result(es, series):
    name, points = series
    resp = es.client.search(index=name, size=0, aggs={"h": {"date_histogram": {"field": "@timestamp",
                                                                               "calendar_interval": "hour"}}})
    buckets = resp["aggregations"]["h"]["buckets"]
    assert [b["key"] for b in buckets] == [BASE_MS, BASE_MS + 3_600_000]
    resp = es.client.search(index=name, size=0, query={"term": {"sensor_id": "none"}},
                            aggs={"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}},
                                  "avg": {"avg": {"field": "value"}}})
    assert resp["aggregations"]["h"]["buckets"] == []
    assert resp["aggregations"]["avg"]["value"] is None


def test_top_level_metrics(es, series):
    name, points = series
    values = [v for _, v in points]
    resp = es.client.search(index=name, size=0, aggs={
        "min": {"min": {"field": "value"}}, "max": {"max": {"field": "value"}},
        "avg": {"avg": {"field": "value"}}, "sum": {"sum": {"field": "value"}},
        "count": {"value_count": {"field": "value"}}, "latest": {"max": {"field": "@timestamp"}},
        "stats": {"stats": {"field": "n"}}})
    aggs = resp["aggregations"]
    assert aggs["min"]["value"] == pytest.approx(min(values))
    assert aggs["max"]["value"] == pytest.approx(max(values))
    assert aggs["avg"]["value"] == pytest.approx(sum(values) / len(values))
    assert aggs["sum"]["value"] == pytest.approx(sum(values))
    assert aggs["count"]["value"] == len(values)
    latest = max(ms for ms, _ in points)
    assert aggs["latest"]["value"] == latest
    assert aggs["latest"]["value_as_string"] == datetime.fromtimestamp(latest / 1000, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + f"{latest % 1000:03d}Z"
    assert aggs["stats"]["count"] == len(points) and aggs["stats"]["min"] == 0


def test_terms_aggregation(es, series):
    name, points = series
    resp = es.client.search(index=name, size=0, aggs={"by_sensor": {"terms": {"field": "sensor_id"},
                                                                    "aggs": {"avg": {"avg": {"field": "value"}}}}})
    buckets = resp["aggregations"]["by_sensor"]["buckets"]
    expected = defaultdict(list)
    for i, (_, v) in enumerate(points):
        expected[f"s{i % 4}"].append(v)
    assert {b["key"]: b["doc_count"] for b in buckets} == {k: len(v) for k, v in expected.items()}
    for b in buckets:
        assert b["avg"]["value"] == pytest.approx(sum(expected[b["key"]]) / len(expected[b["key"]]))


def test_terms_options_and_key_types(es, series):
    name, points = series
    aggs = {"two": {"terms": {"field": "sensor_id", "size": 2, "order": {"_key": "desc"}}},
            "flags": {"terms": {"field": "ok", "min_doc_count": 1}},
            "rare": {"terms": {"field": "n", "min_doc_count": 2}}}
    got = es.client.search(index=name, size=0, aggs=aggs)["aggregations"]
    assert [b["key"] for b in got["two"]["buckets"]] == ["s3", "s2"]
    assert got["two"]["sum_other_doc_count"] == len(points) - sum(b["doc_count"] for b in got["two"]["buckets"])
    flags = {b["key_as_string"]: (b["key"], b["doc_count"]) for b in got["flags"]["buckets"]}
    trues = len(range(0, len(points), 3))
    assert flags == {"true": (1, trues), "false": (0, len(points) - trues)}
    assert got["rare"]["buckets"] == []  # every n occurs once


def test_terms_with_min_doc_count_0_lists_every_value_of_the_index_whatever_matched(es, series):
    """ES fills zero-count buckets from the whole shard: the values of documents the query excluded show up."""
    name, points = series
    other = es.create("other", mappings={"properties": {"sensor_id": {"type": "keyword"}, "n": {"type": "long"}}})
    es.put(other, {"1": {"sensor_id": "elsewhere", "n": -1}})
    query = {"term": {"sensor_id": "s1"}}
    aggs = {"ids": {"terms": {"field": "sensor_id", "min_doc_count": 0},
                    "aggs": {"avg": {"avg": {"field": "value"}}}},
            "ns": {"terms": {"field": "n", "min_doc_count": 0, "size": 3, "order": {"_key": "asc"}}},
            "flags": {"terms": {"field": "ok", "min_doc_count": 0}}}
    got = es.client.search(index=f"{name},{other}", size=0, query=query, aggs=aggs)["aggregations"]
    matched = len(range(1, len(points), 4))
    assert [(b["key"], b["doc_count"]) for b in got["ids"]["buckets"]] == [
        ("s1", matched), ("elsewhere", 0), ("s0", 0), ("s2", 0), ("s3", 0)]  # count desc, then key asc
    assert got["ids"]["buckets"][1]["avg"]["value"] is None
    assert [(b["key"], b["doc_count"]) for b in got["ns"]["buckets"]] == [(-1, 0), (0, 0), (1, 1)]
    assert {b["key_as_string"] for b in got["flags"]["buckets"]} == {"true", "false"}
    with pytest.raises(BadRequestError):
        es.client.search(index=name, size=0, aggs={"t": {"terms": {"field": "n", "min_doc_count": -1}}})


def test_date_histogram_offset_keyed_format_and_hard_bounds(es, series):
    name, points = series
    aggs = {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "offset": "30m", "keyed": True,
                                     "format": "yyyy-MM-dd HH:mm", "min_doc_count": 1}},
            "month": {"date_histogram": {"field": "@timestamp", "calendar_interval": "month", "time_zone": "+14:00"}},
            "bounded": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h",
                                           "hard_bounds": {"min": iso(BASE + timedelta(hours=1))}}}}
    got = es.client.search(index=name, size=0, aggs=aggs)["aggregations"]
    assert list(got["h"]["buckets"]) == ["2024-06-01 11:30", "2024-06-01 12:30", "2024-06-01 13:30"]
    assert sum(b["doc_count"] for b in got["h"]["buckets"].values()) == len(points)
    [month] = got["month"]["buckets"]  # 12:00 to 14:00 UTC is June 2nd at +14:00, still June
    assert month["key_as_string"] == "2024-06-01T00:00:00.000+14:00" and month["doc_count"] == len(points)
    assert [b["key"] for b in got["bounded"]["buckets"]] == [BASE_MS + 3_600_000]
    assert got["bounded"]["buckets"][0]["doc_count"] == len([ms for ms, _ in points if ms >= BASE_MS + 3_600_000])


def test_aggs_and_aggregations_together(es, es_url, series):
    """At the top both names may be given and the last one runs; under one aggregation both are an error (ES 8)."""
    name, points = series
    for first, last in (("aggs", "aggregations"), ("aggregations", "aggs")):
        body = {"size": 0, first: {"low": {"min": {"field": "value"}}}, last: {"high": {"max": {"field": "value"}}}}
        resp = requests.post(f"{es_url}/{name}/_search", data=json.dumps(body), timeout=10,
                             headers={"Content-Type": "application/json"})
        assert list(resp.json()["aggregations"]) == ["high"], resp.text
    nested = {"t": {"terms": {"field": "sensor_id"}, "aggs": {"a": {"max": {"field": "value"}}},
                    "aggregations": {"b": {"min": {"field": "value"}}}}}
    resp = requests.post(f"{es_url}/{name}/_search", json={"size": 0, "aggs": nested}, timeout=10)
    assert resp.status_code == 400 and "Found two sub aggregation definitions under [t]" in resp.text


def test_bad_aggregations_are_refused(es, series):
    name, _ = series
    for aggs in ({"a": {"avg": {"field": "sensor_id"}}},
                 {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1M"}}},
                 {"h": {"date_histogram": {"field": "@timestamp"}}},
                 {"h": {"date_histogram": {"field": "sensor_id", "fixed_interval": "1m"}}},
                 {"a": {"avg": {"field": "value"}, "aggs": {"b": {"max": {"field": "value"}}}}}):
        with pytest.raises(BadRequestError):
            es.client.search(index=name, size=0, aggs=aggs)
