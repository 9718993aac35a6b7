"""_search and _count: the query DSL subset, sorting, paging with search_after, _source filtering, totals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from elasticsearch import BadRequestError, helpers

BASE = datetime(2024, 5, 1, tzinfo=timezone.utc)
SENSORS = ["s1", "s2", "s3"]


@pytest.fixture
def readings(es):
    """60 readings, one a minute: sensor s1/s2/s3 in turn, value = minute, plus a label on every tenth."""
    name = es.create("telemetry-2024.05", mappings={"dynamic": "strict", "properties": {
        "@timestamp": {"type": "date_nanos"}, "sensor_id": {"type": "keyword"}, "device_id": {"type": "keyword"},
        "value": {"type": "double"}, "count": {"type": "long"}, "ok": {"type": "boolean"},
        "label": {"type": "keyword"}}})
    docs = []
    for i in range(60):
        doc = {"@timestamp": (BASE + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
               "sensor_id": SENSORS[i % 3], "device_id": "d1" if i < 30 else "d2", "value": float(i),
               "count": i % 7, "ok": i % 2 == 0}
        if i % 10 == 0:
            doc["label"] = f"Special-{i}"
        docs.append({"_index": name, "_id": f"r{i}", "_source": doc})
    helpers.bulk(es.client, docs, refresh=True)
    return name


def ids(resp) -> list[str]:
    return [h["_id"] for h in resp["hits"]["hits"]]


def count(es, index, query) -> int:
    return es.client.count(index=index, query=query)["count"]


def test_term_terms_and_bool(es, readings):
    assert count(es, readings, {"term": {"sensor_id": "s1"}}) == 20
    assert count(es, readings, {"term": {"sensor_id": {"value": "s2"}}}) == 20
    assert count(es, readings, {"terms": {"sensor_id": ["s1", "s3"]}}) == 40
    assert count(es, readings, {"term": {"ok": True}}) == 30
    assert count(es, readings, {"term": {"count": 3}}) == len([i for i in range(60) if i % 7 == 3])
    q = {"bool": {"filter": [{"term": {"sensor_id": "s1"}}, {"term": {"device_id": "d2"}}],
                  "must_not": [{"term": {"count": 0}}]}}
    expected = [i for i in range(60) if i % 3 == 0 and i >= 30 and i % 7 != 0]
    assert count(es, readings, q) == len(expected)
    q = {"bool": {"should": [{"term": {"sensor_id": "s1"}}, {"term": {"device_id": "d1"}}],
                  "minimum_should_match": 2}}
    assert count(es, readings, q) == len([i for i in range(60) if i % 3 == 0 and i < 30])
    q = {"bool": {"should": [{"term": {"sensor_id": "s1"}}, {"term": {"sensor_id": "s2"}}]}}
    assert count(es, readings, q) == 40
    q = {"bool": {"must": [{"match_all": {}}], "should": [{"term": {"sensor_id": "nope"}}]}}
    assert count(es, readings, q) == 60


def test_range_exists_ids_match(es, readings):
    assert count(es, readings, {"range": {"value": {"gte": 10, "lt": 20}}}) == 10
    assert count(es, readings, {"range": {"value": {"gt": 10, "lte": 20}}}) == 10
    start = (BASE + timedelta(minutes=5)).isoformat()
    end = (BASE + timedelta(minutes=15)).isoformat()
    assert count(es, readings, {"range": {"@timestamp": {"gte": start, "lt": end}}}) == 10
    assert count(es, readings, {"range": {"@timestamp": {"gte": "2024-05-01T00:05:00.000000001Z"}}}) == 54
    millis = int((BASE + timedelta(minutes=30)).timestamp() * 1000)
    assert count(es, readings, {"range": {"@timestamp": {"gte": millis}}}) == 30
    custom = {"range": {"@timestamp": {"gte": "01/05/2024 00:50", "format": "dd/MM/yyyy HH:mm"}}}
    assert count(es, readings, custom) == 10
    assert count(es, readings, {"range": {"@timestamp": {"lte": "2024-05-01"}}}) == 60  # lte rounds up to the day's end
    assert count(es, readings, {"range": {"@timestamp": {"lt": "2024-05-01"}}}) == 0
    assert count(es, readings, {"range": {"@timestamp": {"gte": "2024-05-01T02:50:00+02:00"}}}) == 10
    assert count(es, readings, {"range": {"@timestamp": {"gte": "2024-05-01T02:50", "time_zone": "+02:00"}}}) == 10
    assert count(es, readings, {"range": {"@timestamp": {"gte": "now-1d"}}}) == 0
    assert count(es, readings, {"range": {"@timestamp": {"lt": "now"}}}) == 60
    assert count(es, readings, {"range": {"@timestamp": {"gte": "2024-05-01T00:00:00Z||+10m",
                                                         "lt": "2024-05-01||+1d/d"}}}) == 50
    assert count(es, readings, {"range": {"label": {"gte": "Special-3", "lt": "Special-5"}}}) == 2  # 30, 40
    assert count(es, readings, {"exists": {"field": "label"}}) == 6
    assert count(es, readings, {"exists": {"field": "lab*"}}) == 6
    assert count(es, readings, {"bool": {"must_not": {"exists": {"field": "label"}}}}) == 54
    assert count(es, readings, {"exists": {"field": "no_such_field"}}) == 0
    assert count(es, readings, {"ids": {"values": ["r1", "r2", "nope"]}}) == 2
    assert count(es, readings, {"term": {"_id": "r3"}}) == 1
    assert count(es, readings, {"match_all": {}}) == 60
    assert count(es, readings, {"match_none": {}}) == 0
    assert count(es, readings, {"term": {"unmapped_field": "x"}}) == 0


def test_match_prefix_and_wildcard_on_unanalysed_fields(es, readings):
    assert count(es, readings, {"match": {"label": "Special-10"}}) == 1  # a keyword is one token: the whole value
    assert count(es, readings, {"match": {"label": "special-10"}}) == 0
    assert count(es, readings, {"match": {"label": {"query": "Special-10", "operator": "and"}}}) == 1
    assert count(es, readings, {"match": {"count": "3"}}) == len([i for i in range(60) if i % 7 == 3])
    assert count(es, readings, {"term": {"label": {"value": "special-10", "case_insensitive": True}}}) == 1
    assert count(es, readings, {"prefix": {"label": "Special-"}}) == 6
    assert count(es, readings, {"prefix": {"label": {"value": "special-", "case_insensitive": True}}}) == 6
    assert count(es, readings, {"wildcard": {"label": "Sp*-?0"}}) == 5  # 10 … 50
    assert count(es, readings, {"wildcard": {"sensor_id": {"value": "S?", "case_insensitive": True}}}) == 60
    assert count(es, readings, {"constant_score": {"filter": {"term": {"sensor_id": "s1"}}, "boost": 2}}) == 20
    with pytest.raises(BadRequestError):
        es.client.search(index=readings, query={"prefix": {"value": "1"}})  # keyword fields only, as in ES


def test_sort_by_several_keys_and_doc(es, readings):
    resp = es.client.search(index=readings, sort=[{"count": "desc"}, {"value": {"order": "asc"}}], size=5)
    expected = sorted(range(60), key=lambda i: (-(i % 7), i))[:5]
    assert ids(resp) == [f"r{i}" for i in expected]
    assert resp["hits"]["hits"][0]["sort"] == [6, float(expected[0])]
    assert resp["hits"]["hits"][0]["_score"] is None
    resp = es.client.search(index=readings, sort=["sensor_id", {"@timestamp": "desc"}], size=3)
    assert ids(resp) == ["r57", "r54", "r51"]
    assert resp["hits"]["hits"][0]["sort"][0] == "s1"
    resp = es.client.search(index=readings, sort=["_doc"], size=3)
    assert len(resp["hits"]["hits"]) == 3


def test_a_string_sort_in_the_body_is_a_field_name_colon_and_all(es, es_url, readings):
    """Only the URL parameter splits ``field:desc``; in a body, ES looks for a field of that name."""
    resp = requests.post(f"{es_url}/{readings}/_search", json={"sort": ["value:desc"]}, timeout=10)
    assert resp.status_code == 400 and "No mapping found for [value:desc]" in resp.text, resp.text


def test_sort_on_id_is_refused_like_es8(es, readings):
    with pytest.raises(BadRequestError):
        es.client.search(index=readings, sort=[{"_id": "asc"}])


def test_sort_on_unmapped_fields_is_refused_without_unmapped_type(es, readings):
    with pytest.raises(BadRequestError):
        es.client.search(index=readings, sort=["no_such_field"])
    resp = es.client.search(index=readings, sort=[{"no_such_field": {"unmapped_type": "long"}}, "value"], size=2)
    assert ids(resp) == ["r0", "r1"]


def test_date_sort_values_are_epoch_numbers(es, readings):
    resp = es.client.search(index=readings, sort=[{"@timestamp": "asc"}], size=1)
    first_ns = int(BASE.timestamp()) * 1_000_000_000
    assert resp["hits"]["hits"][0]["sort"] == [first_ns]  # date_nanos: nanoseconds since the epoch
    resp = es.client.search(index=readings, sort=[{"ok": "desc"}, {"label": {"order": "asc", "missing": "_first"}}],
                            size=2)
    assert [hit["sort"] for hit in resp["hits"]["hits"]] == [[1, None], [1, None]]  # booleans sort as 1 and 0
    resp = es.client.search(index=readings, sort=[{"label": {"order": "desc", "missing": "_last"}}], size=7)
    assert ids(resp)[:6] == ["r50", "r40", "r30", "r20", "r10", "r0"]
    resp = es.client.search(index=readings, sort=[{"@timestamp": {"order": "asc",
                                                                  "format": "strict_date_optional_time_nanos"}}],
                            size=1)
    assert resp["hits"]["hits"][0]["sort"] == ["2024-05-01T00:00:00.000Z"]


def test_from_and_size(es, readings):
    resp = es.client.search(index=readings, sort=["value"], from_=10, size=5)
    assert ids(resp) == [f"r{i}" for i in range(10, 15)]
    resp = es.client.search(index=readings, size=0)
    assert resp["hits"]["hits"] == [] and resp["hits"]["total"]["value"] == 60
    with pytest.raises(BadRequestError):
        es.client.search(index=readings, from_=9995, size=10)


def test_search_after_walks_every_page(es, readings):
    seen = []
    after = None
    pages = 0
    while True:
        kwargs = {"search_after": after} if after else {}
        resp = es.client.search(index=readings, query={"term": {"device_id": "d2"}},
                                sort=[{"@timestamp": "desc"}, {"sensor_id": "asc"}], size=7, **kwargs)
        hits = resp["hits"]["hits"]
        assert resp["hits"]["total"]["value"] == 30
        if not hits:
            break
        pages += 1
        seen.extend(h["_id"] for h in hits)
        after = hits[-1]["sort"]
    assert pages == 5
    assert seen == [f"r{i}" for i in range(59, 29, -1)]


def test_search_after_with_single_sort_key(es, readings):
    resp = es.client.search(index=readings, sort=[{"value": "asc"}], size=10, search_after=[24.0])
    assert ids(resp) == [f"r{i}" for i in range(25, 35)]
    resp = es.client.search(index=readings, sort=[{"@timestamp": "desc"}], size=2,
                            search_after=[int((BASE + timedelta(minutes=3)).timestamp()) * 10**9])
    assert ids(resp) == ["r2", "r1"]


def test_date_nanos_order_with_timestamps_differing_in_nanoseconds(es):
    name = es.name()
    es.client.indices.create(index=name, mappings={"properties": {"@timestamp": {"type": "date_nanos"}}})
    stamps = {"c": "2024-01-01T00:00:00.000000003Z", "a": "2024-01-01T00:00:00.000000001Z",
              "b": "2024-01-01T00:00:00.000000002Z", "d": "2024-01-01T00:00:00.000000999Z"}
    helpers.bulk(es.client, [{"_index": name, "_id": k, "_source": {"@timestamp": v}} for k, v in stamps.items()],
                 refresh=True)
    resp = es.client.search(index=name, sort=[{"@timestamp": "asc"}])
    assert ids(resp) == ["a", "b", "c", "d"]
    base = 1704067200 * 10**9
    assert [h["sort"][0] for h in resp["hits"]["hits"]] == [base + 1, base + 2, base + 3, base + 999]
    resp = es.client.search(index=name, sort=[{"@timestamp": "desc"}], size=2, search_after=[base + 3])
    assert ids(resp) == ["b", "a"]
    q = {"range": {"@timestamp": {"gt": "2024-01-01T00:00:00.000000001Z", "lte": "2024-01-01T00:00:00.000000003Z"}}}
    assert es.client.count(index=name, query=q)["count"] == 2
    resp = es.client.search(index=name, sort=[{"@timestamp": {"order": "desc",
                                                              "format": "strict_date_optional_time_nanos"}}], size=1)
    assert resp["hits"]["hits"][0]["sort"] == ["2024-01-01T00:00:00.000000999Z"]
    assert resp["hits"]["hits"][0]["_source"]["@timestamp"] == stamps["d"]


def test_track_total_hits(es, readings):
    resp = es.client.search(index=readings, track_total_hits=10, size=1)
    assert resp["hits"]["total"] == {"value": 10, "relation": "gte"}
    resp = es.client.search(index=readings, track_total_hits=True, size=1)
    assert resp["hits"]["total"] == {"value": 60, "relation": "eq"}
    resp = es.client.search(index=readings, track_total_hits=False, size=1)
    assert "total" not in resp["hits"]


def test_source_filtering(es):
    name = es.create()
    whole = {"k": "a", "l": 1, "d": 2.5, "b": True}
    es.put(name, {"1": whole})

    def source(**kwargs):
        return es.client.search(index=name, **kwargs)["hits"]["hits"][0].get("_source")

    assert source(source=False) is None
    assert source(source=True) == source() == whole
    assert source(source="k") == {"k": "a"}
    assert source(source=["l", "d"]) == {"l": 1, "d": 2.5}
    assert source(source=["*"]) == whole
    assert source(source={"includes": ["*"], "excludes": ["d", "b"]}) == {"k": "a", "l": 1}
    assert source(source={"excludes": ["k"]}) == {"l": 1, "d": 2.5, "b": True}
    assert source(version=True, size=1)["k"] == "a"
    assert es.client.search(index=name, version=True)["hits"]["hits"][0]["_version"] == 1


def test_search_across_pattern_alias_and_list(es):
    for month in ("2024.01", "2024.02"):
        name = es.create(f"tel-{month}", mappings={"properties": {"t": {"type": "date_nanos"}, "v": {"type": "long"}}},
                         aliases={es.name("tel"): {}})
        helpers.bulk(es.client, [{"_index": name, "_id": f"{month}-{i}",
                                  "_source": {"t": f"{month.replace('.', '-')}-0{i + 1}T00:00:00Z", "v": i}}
                                 for i in range(3)], refresh=True)
    for target in (es.name("tel-*"), es.name("tel"), f"{es.name('tel-2024.01')},{es.name('tel-2024.02')}"):
        resp = es.client.search(index=target, sort=[{"t": "desc"}], size=4)
        assert resp["hits"]["total"]["value"] == 6
        assert ids(resp) == ["2024.02-2", "2024.02-1", "2024.02-0", "2024.01-2"]
        assert {h["_index"] for h in resp["hits"]["hits"]} == {es.name("tel-2024.01"), es.name("tel-2024.02")}


def test_unscored_search_keeps_index_order(es, readings):
    resp = es.client.search(index=readings, query={"bool": {"filter": {"term": {"sensor_id": "s2"}}}}, size=3)
    assert ids(resp) == ["r1", "r4", "r7"]
    assert resp["hits"]["hits"][0]["_score"] == 0.0


def test_bad_values_in_queries_are_400(es, readings):
    with pytest.raises(BadRequestError):
        es.client.search(index=readings, query={"term": {"count": "not-a-number"}})
    with pytest.raises(BadRequestError):
        es.client.search(index=readings, query={"range": {"@timestamp": {"gte": "yesterday-ish"}}})
    with pytest.raises(BadRequestError):
        es.client.search(index=readings, query={"not_a_query": {}})


def test_sort_field_missing_in_one_index_fails_only_that_shard(es):
    es.put(es.create("with", mappings={"properties": {"n": {"type": "long"}}}), {"1": {"n": 1}})
    es.put(es.create("without", mappings={"properties": {"other": {"type": "long"}}}), {"2": {"other": 1}})
    resp = es.client.search(index=es.name("w*"), sort=["n"])
    assert ids(resp) == ["1"]
    assert resp["_shards"]["failed"] == 1 and resp["_shards"]["successful"] == 1
    assert resp["_shards"]["failures"][0]["index"] == es.name("without")


def test_match_all_sorted_by_time_pages_through_everything(es, readings):
    resp = es.client.search(index=readings, sort=[{"@timestamp": "desc"}], size=3)
    assert ids(resp) == ["r59", "r58", "r57"]
    resp = es.client.search(index=readings, sort=[{"@timestamp": "asc"}], size=2,
                            search_after=resp["hits"]["hits"][-1]["sort"])
    assert ids(resp) == ["r58", "r59"]
