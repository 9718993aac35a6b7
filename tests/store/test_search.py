"""The consumer search: the sensor filter is forced, and only allow-listed body keys, queries and aggs pass."""

import pytest

from infra.adapters.elasticsearch import ALIAS, search_sensors
from infra.domain.queries import MAX_SIZE
from infra.domain.errors import QueryError
from tests.store.helpers import reading, store

BASE = 1_764_300_000_000_000_000
SECOND = 1_000_000_000


@pytest.fixture
def granted(store_es, sensor):
    """Two sensors with 10 readings each: ``granted`` is the one the caller may read."""
    store(store_es, [reading(sensor, "double", BASE + i * SECOND, float(i)) for i in range(10)]
          + [reading(f"{sensor}-secret", "double", BASE + i * SECOND, 100.0 + i) for i in range(10)])
    store_es.indices.refresh(index=ALIAS)
    return sensor


def test_a_search_sees_only_granted_sensors(store_es, granted):
    reply = search_sensors(store_es, [granted], {"query": {"match_all": {}}, "size": 100})
    assert {hit["_source"]["sensor_id"] for hit in reply["hits"]["hits"]} == {granted}
    assert reply["hits"]["total"]["value"] == 10


def test_hits_carry_readable_fields_only_and_score_nothing(store_es, granted):
    # Scores would reflect term statistics of every tenant's documents in the shard; filter context makes them 0.
    reply = search_sensors(store_es, [granted], {"query": {"term": {"sensor_id": granted}}})
    assert reply["hits"]["max_score"] == 0.0 and {hit["_score"] for hit in reply["hits"]["hits"]} == {0.0}
    assert {key for hit in reply["hits"]["hits"] for key in hit["_source"]} == {
        "@timestamp", "received_at", "sensor_id", "device_id", "type", "value_double"}  # no owner_id, no gateway


def test_a_query_naming_another_sensor_finds_nothing(store_es, granted):
    secret = f"{granted}-secret"
    assert search_sensors(store_es, [granted], {"query": {"term": {"sensor_id": secret}}})["hits"]["hits"] == []
    assert search_sensors(store_es, [granted], {"query": {"term": {"sensor_id": secret}}}, count=True)["count"] == 0
    for widening in ({"bool": {"should": [{"match_all": {}}, {"term": {"sensor_id": secret}}]}},
                     {"bool": {"must_not": [{"term": {"sensor_id": granted}}]}},
                     {"constant_score": {"filter": {"terms": {"sensor_id": [granted, secret]}}}}):
        hits = search_sensors(store_es, [granted], {"query": widening, "size": 100})["hits"]["hits"]
        assert secret not in {hit["_source"]["sensor_id"] for hit in hits}, widening


def test_count_sort_source_and_search_after_work_within_the_grant(store_es, granted):
    assert search_sensors(store_es, [granted], {}, count=True)["count"] == 10
    body = {"query": {"range": {"value_double": {"gte": 5}}}, "sort": [{"@timestamp": "asc"}], "size": 2,
            "_source": ["value_double"]}
    first = search_sensors(store_es, [granted], body)["hits"]["hits"]
    assert [hit["_source"] for hit in first] == [{"value_double": 5.0}, {"value_double": 6.0}]
    after = search_sensors(store_es, [granted], {**body, "search_after": first[-1]["sort"]})["hits"]["hits"]
    assert [hit["_source"]["value_double"] for hit in after] == [7.0, 8.0]


def test_a_date_histogram_lists_buckets_with_readings_only(store_es, granted):
    body = {"size": 0, "query": {"terms": {"value_double": [0.0, 9.0]}},
            "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}}}
    reply = search_sensors(store_es, [granted], body)
    assert [b["doc_count"] for b in reply["aggregations"]["h"]["buckets"]] == [1, 1]  # not 8 empty ones between


def test_a_reply_of_too_many_buckets_is_refused(store_es, granted, monkeypatch):
    monkeypatch.setattr("infra.adapters.elasticsearch.search.MAX_BUCKETS", 5)
    body = {"size": 0, "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}}}
    with pytest.raises(QueryError, match="made 10 buckets, more than 5"):
        search_sensors(store_es, [granted], body)
    body["aggs"]["h"]["date_histogram"]["fixed_interval"] = "2s"
    assert len(search_sensors(store_es, [granted], body)["aggregations"]["h"]["buckets"]) == 5


def test_aggregations_run_over_granted_sensors_only(store_es, granted):
    body = {"size": 0, "aggs": {"per_minute": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"},
                                               "aggs": {"avg": {"avg": {"field": "value_double"}}}},
                                "top": {"max": {"field": "value_double"}}}}
    aggs = search_sensors(store_es, [granted], body)["aggregations"]
    assert aggs["top"]["value"] == 9.0
    assert sum(b["doc_count"] for b in aggs["per_minute"]["buckets"]) == 10


def test_every_option_the_grammar_allows_is_answered(store_es, granted):
    """The store (the stand-in, or a real cluster) answers each option the proxy lets through."""
    query = {"bool": {
        "must": [{"match_all": {"boost": 2}}, {"exists": {"field": "value_double"}}],
        "filter": {"constant_score": {"filter": {"range": {"@timestamp": {
            "gte": str(BASE // 1_000_000), "lt": "now+1d/d", "format": "epoch_millis", "time_zone": "+01:00"}}}}},
        "should": [{"term": {"type": "double"}}, {"terms": {"sensor_id": [granted]}}, {"match": {"value_double": 3}},
                   {"prefix": {"device_id": "dev"}}, {"wildcard": {"device_id": {"value": "d?v-*"}}},
                   {"ids": {"values": [f"{granted}:{BASE}"]}}],
        "minimum_should_match": "50%",
        "must_not": [{"match_none": {}}, {"range": {"value_double": {"gt": 8.5}}}]}}
    body = {"query": query, "size": 3, "track_total_hits": 5, "_source": {"excludes": ["received_at"]},
            "sort": [{"@timestamp": {"order": "desc", "format": "strict_date_optional_time_nanos"}},
                     {"value_double": {"missing": "_first", "unmapped_type": "double"}}],
            "aggs": {"d": {"date_histogram": {"field": "@timestamp", "calendar_interval": "minute", "offset": "+1s",
                                              "time_zone": "-02:30", "format": "strict_date_optional_time",
                                              "keyed": True, "order": {"_count": "desc"}},
                           "aggs": {"t": {"terms": {"field": "type", "size": 1, "min_doc_count": 2,
                                                    "order": [{"_key": "asc"}]},
                                          "aggs": {m: {m: {"field": "value_double"}}
                                                   for m in ("avg", "sum", "stats", "min", "max", "value_count")}}}}}}
    reply = search_sensors(store_es, [granted], body)
    assert reply["hits"]["total"] == {"value": 5, "relation": "gte"}
    assert [hit["_source"]["value_double"] for hit in reply["hits"]["hits"]] == [8.0, 7.0, 6.0]
    assert "received_at" not in reply["hits"]["hits"][0]["_source"]
    # Minutes start at :01 (offset); the reading at :00 falls in the one before, and lacks a second for "t".
    minutes = reply["aggregations"]["d"]["buckets"]
    assert {key: b["doc_count"] for key, b in minutes.items()} == {"2025-11-28T00:50:01.000-02:30": 8,
                                                                   "2025-11-28T00:49:01.000-02:30": 1}
    assert [[t["max"]["value"] for t in b["t"]["buckets"]] for b in minutes.values()] == [[8.0], []]
    after = search_sensors(store_es, [granted], {**body, "search_after": reply["hits"]["hits"][-1]["sort"]})
    assert [hit["_source"]["value_double"] for hit in after["hits"]["hits"]] == [5.0, 4.0, 3.0]


def test_the_callers_body_is_left_as_sent(store_es, granted):
    body = {"query": {"match_all": {}}, "aggs": {"t": {"terms": {"field": "sensor_id", "size": 5000}}}}
    search_sensors(store_es, [granted], body)
    assert body == {"query": {"match_all": {}}, "aggs": {"t": {"terms": {"field": "sensor_id", "size": 5000}}}}


def test_size_is_capped(store_es, sensor):
    store(store_es, [reading(sensor, "long", BASE + i, i) for i in range(MAX_SIZE + 50)])
    store_es.indices.refresh(index=ALIAS)
    reply = search_sensors(store_es, [sensor], {"size": 5000, "track_total_hits": True})
    assert len(reply["hits"]["hits"]) == MAX_SIZE
    assert reply["hits"]["total"]["value"] == MAX_SIZE + 50


@pytest.mark.parametrize("body, named", [
    ({"query": {"match_all": {}}, "script_fields": {}, "pit": {}}, "script_fields"),
    ({"post_filter": {"match_all": {}}}, "post_filter"),
    ({"highlight": {}}, "highlight"),
])
def test_unknown_body_keys_are_refused_by_name(store_es, body, named):
    with pytest.raises(QueryError, match=f"^{named} is not allowed"):
        search_sensors(store_es, ["s"], body)


def test_count_takes_a_query_only(store_es):
    with pytest.raises(QueryError, match="^size is not allowed"):
        search_sensors(store_es, ["s"], {"query": {"match_all": {}}, "size": 1}, count=True)


@pytest.mark.parametrize("body, message", [
    ({"query": {"script": {"script": "true"}}}, "query.script is not allowed"),
    ({"query": {"bool": {"filter": [{"wrapper": {"query": "e30="}}]}}}, "query.bool.filter[0].wrapper is not allowed"),
    ({"query": {"terms": {"sensor_id": {"index": "users", "id": "1", "path": "x"}}}}, "lookups"),
    ({"query": {"term": {"a": 1}, "match": {"b": 2}}}, "exactly one"),
    ({"aggs": {"x": {"scripted_metric": {}}}}, "aggs.x.scripted_metric is not allowed"),
    ({"aggs": {"x": {"avg": {"script": "doc.x"}}}}, "aggs.x.avg.script is not allowed"),
    ({"aggs": {"a": {"terms": {"field": "type"}, "aggs": {"b": {"terms": {"field": "type"}, "aggs": {
        "c": {"terms": {"field": "type"}, "aggs": {"d": {"max": {"field": "value_long"}}}}}}}}}}, "nest"),
    ({"size": -1}, "size must be >= 0"), ({"from": 9_990, "size": 20}, "from + size"),
])
def test_dangerous_or_unbounded_requests_are_refused(store_es, body, message):
    with pytest.raises(QueryError) as refused:
        search_sensors(store_es, ["s"], body)
    assert message in str(refused.value)


@pytest.mark.parametrize("sensor_ids", [[], "s1", [""], [1]])
def test_a_grant_list_is_required(store_es, sensor_ids):
    with pytest.raises(QueryError, match="sensor"):
        search_sensors(store_es, sensor_ids, {})


def test_a_query_elasticsearch_refuses_is_a_query_error(store_es, granted):
    with pytest.raises(QueryError):
        search_sensors(store_es, [granted], {"sort": [{"value_double": {"order": "sideways"}}]})
