"""What the stand-in does not implement is refused with a 400 (or 405) naming it, never answered approximately.

Each case is something a real Elasticsearch 8 does but nothing in the platform sends, so these run against the
stand-in only.
"""

from __future__ import annotations

import json

import pytest
import requests


def _ndjson(*lines: dict) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


# (method, path under the test's index, JSON or NDJSON body, words the reason must contain)
REFUSED = [
    pytest.param("PUT", "/new", {"mappings": {"properties": {"t": {"type": "text"}}}}, "[text]", id="text-field"),
    pytest.param("PUT", "/new", {"mappings": {"properties": {"n": {"type": "integer"}}}}, "[integer]", id="integer"),
    pytest.param("PUT", "/new", {"mappings": {"properties": {"d": {"type": "date"}}}}, "[date]", id="date-ms"),
    pytest.param("PUT", "/new", {"mappings": {"properties": {"o": {"properties": {"x": {"type": "long"}}}}}},
                 "object fields", id="object-field"),
    pytest.param("PUT", "/new", {"mappings": {"properties": {"k": {"type": "keyword", "ignore_above": 5}}}},
                 "[ignore_above]", id="mapping-parameter"),
    pytest.param("PUT", "/new", {"mappings": {"properties": {"k": {"type": "keyword", "fields": {}}}}},
                 "[fields]", id="multi-field"),
    pytest.param("PUT", "/new", {"mappings": {"dynamic_templates": []}}, "[dynamic_templates]", id="dynamic-templates"),
    pytest.param("PUT", "/new", {"settings": {"refresh_interval": "1s"}}, "refresh_interval", id="index-setting"),
    pytest.param("PUT", "/new", {"aliases": {"a": {"is_write_index": True}}}, "is_write_index", id="alias-options"),
    pytest.param("PUT", "/_bulk", _ndjson({"create": {"_index": "{index}", "_id": "1"}}, {"k": "a"}), "[create]",
                 id="bulk-create"),
    pytest.param("PUT", "/_bulk", _ndjson({"delete": {"_index": "{index}", "_id": "1"}}), "[delete]", id="bulk-delete"),
    pytest.param("PUT", "/_bulk", _ndjson({"index": {"_index": "{index}"}}, {"k": "a"}), "generated document ids",
                 id="bulk-without-id"),
    pytest.param("PUT", "/_bulk", _ndjson({"index": {"_index": "{index}", "_id": "1", "routing": "r"}}, {"k": "a"}),
                 "[routing]", id="bulk-routing"),
    pytest.param("POST", "/{index}/_doc", {"k": "a"}, "stand-in", id="index-api"),
    pytest.param("PUT", "/{index}/_create/1", {"k": "a"}, "stand-in", id="create-api"),
    pytest.param("PUT", "/{index}/_mapping", {"properties": {}}, "stand-in", id="put-mapping"),
    pytest.param("POST", "/_aliases", {"actions": []}, "stand-in", id="alias-actions"),
    pytest.param("GET", "/_cluster/health", None, "stand-in", id="cluster-health"),
    pytest.param("PUT", "/_cluster/settings", {"persistent": {"cluster.max_shards_per_node": 5},
                                                "transient": {"cluster.max_shards_per_node": 5}}, "transient",
                 id="transient-setting"),
    pytest.param("POST", "/{index}/_search", {"query": {"match": {"k": {"query": "a", "analyzer": "standard"}}}},
                 "[analyzer]", id="match-analyzer"),
    pytest.param("POST", "/{index}/_search", {"sort": [{"l": {"mode": "max"}}]}, "[mode]", id="sort-mode"),
    pytest.param("POST", "/{index}/_search", {"track_scores": True}, "[track_scores]", id="track-scores"),
    pytest.param("POST", "/{index}/_search", {"aggs": {"t": {"terms": {"field": "k", "shard_min_doc_count": 2}}}},
                 "[shard_min_doc_count]", id="terms-shard-min-doc-count"),
    pytest.param("POST", "/{index}/_search", {"seq_no_primary_term": True}, "[seq_no_primary_term]", id="seq-no"),
    pytest.param("POST", "/{index}/_search?typed_keys=true", {}, "[typed_keys]", id="typed-keys"),
    pytest.param("POST", "/{index}/_search?_source_includes=k", {}, "[_source_includes]", id="source-param"),
    pytest.param("POST", "/{index},-{index}/_search", {}, "excluding indices", id="index-exclusion"),
    # Scripts, wherever they may appear: refused by name, never run nor ignored.
    pytest.param("POST", "/{index}/_search", {"query": {"script": {"script": "true"}}}, "[script]",
                 id="script-query"),
    pytest.param("POST", "/{index}/_search", {"sort": [{"_script": {"type": "number", "script": "1"}}]},
                 "[_script]", id="script-sort"),
    pytest.param("POST", "/{index}/_search", {"sort": [{"_script": {"order": "asc", "unmapped_type": "long"}}]},
                 "[_script]", id="script-sort-without-script"),
    pytest.param("POST", "/{index}/_search", {"aggs": {"a": {"avg": {"field": "l", "script": None}}}},
                 "scripts in aggregations", id="null-script-in-aggregation"),
    pytest.param("POST", "/{index}/_search", {"aggs": {"a": {"terms": {"script": "1"}}}}, "scripts in aggregations",
                 id="script-in-terms"),
    pytest.param("POST", "/{index}/_search", {"script_fields": {"x": {"script": "1"}}}, "[script_fields]",
                 id="script-fields"),
    pytest.param("POST", "/{index}/_search", {"runtime_mappings": {"x": {"type": "long", "script": "1"}}},
                 "[runtime_mappings]", id="runtime-mappings"),
    pytest.param("POST", "/{index}/_search", {"sort": [{"_geo_distance": {"order": "asc", "unmapped_type": "long"}}]},
                 "[_geo_distance]", id="geo-distance-sort"),
]


@pytest.mark.parametrize("method, path, body, named", REFUSED)
def test_unsupported_features_are_refused_by_name(es, es_url, standin_only, method, path, body, named):
    index = es.create()
    data = body if isinstance(body, str) else json.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/x-ndjson" if isinstance(body, str) else "application/json"}
    target = path.replace("/new", f"/{es.name('new')}")
    resp = requests.request(method, es_url + target.replace("{index}", index),
                            data=data.replace("{index}", index) if data else None, headers=headers, timeout=10)
    assert resp.status_code in (400, 405), resp.text
    error = resp.json()["error"]
    assert named in error["reason"], error
    assert es.client.count(index=index)["count"] == 0  # and nothing was written


@pytest.mark.parametrize("mappings, document, named", [
    pytest.param({"properties": {"k": {"type": "keyword"}}}, {"k": ["a", "b"]}, "arrays of values", id="array"),
    pytest.param({"properties": {"k": {"type": "keyword"}}}, {"new": 1}, "dynamic mapping", id="dynamic-true"),
    pytest.param({"dynamic": False, "properties": {"k": {"type": "keyword"}}}, {"new": 1}, "dynamic mapping",
                 id="dynamic-false"),
])
def test_unsupported_documents_fail_their_item_by_name(es, standin_only, mappings, document, named):
    index = es.create(mappings=mappings)
    item = es.client.bulk(operations=[{"index": {"_index": index, "_id": "1"}}, document])["items"][0]["index"]
    assert item["status"] == 400 and named in item["error"]["reason"] and "stand-in" in item["error"]["reason"]
    assert es.client.count(index=index)["count"] == 0


def test_a_chunked_body_is_refused_and_the_connection_closed(es, es_url, standin_only):
    resp = requests.post(f"{es_url}/{es.create()}/_search", data=iter([b"{}"]), timeout=10,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "Transfer-Encoding" in resp.json()["error"]["reason"]
    assert resp.headers["Connection"] == "close"
