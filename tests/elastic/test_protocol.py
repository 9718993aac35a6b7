"""The HTTP contract the official client relies on: info, ping, product header, keep-alive, error shapes."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError


def _conn(es_url: str) -> http.client.HTTPConnection:
    parts = urlsplit(es_url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def test_info_reports_an_8x_version_and_the_tagline(es):
    info = es.client.info()
    assert info["version"]["number"].startswith("8.")
    assert info["tagline"] == "You Know, for Search"
    assert es.client.ping() is True


def test_every_response_carries_the_product_header_on_one_kept_alive_connection(es, es_url):
    index = es.name()
    conn = _conn(es_url)
    requests = [
        ("GET", "/", None, 200),
        ("HEAD", "/", None, 200),
        ("PUT", f"/{index}", json.dumps({"mappings": {"properties": {"a": {"type": "keyword"}}}}), 200),
        ("HEAD", f"/{index}", None, 200),
        ("HEAD", f"/{index}-missing", None, 404),
        ("PUT", "/_bulk", json.dumps({"index": {"_index": index, "_id": "1"}}) + "\n" + json.dumps({"a": "x"}) + "\n",
         200),
        ("GET", f"/{index}/_doc/1", None, 200),
        ("GET", f"/{index}/_doc/404", None, 404),
        ("POST", f"/{index}/_search", json.dumps({"query": {"no_such_query": {}}}), 400),
        ("GET", f"/{index}-missing/_search", None, 404),
        ("POST", f"/{index}/_count", json.dumps({"query": {"match_all": {}}}), 200),
    ]
    for method, path, body, expected in requests:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        assert resp.status == expected, (method, path, payload)
        assert resp.getheader("X-Elastic-Product") == "Elasticsearch", (method, path)
        if method != "HEAD":
            assert resp.getheader("Content-Type", "").startswith("application/")
            json.loads(payload)
    conn.request("POST", f"/{index}/_count", body=b"{}", headers={"Content-Type": "application/json"})
    assert json.loads(conn.getresponse().read())["count"] == 1
    conn.close()


def test_error_body_has_es_shape(es, es_url):
    conn = _conn(es_url)
    conn.request("GET", f"/{es.name('nope')}/_search")
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 404
    assert body["status"] == 404
    assert body["error"]["type"] == "index_not_found_exception"
    assert body["error"]["root_cause"][0]["type"] == "index_not_found_exception"
    assert es.name("nope") in body["error"]["reason"]


def test_unknown_index_raises_not_found(es):
    with pytest.raises(NotFoundError) as info:
        es.client.search(index=es.name("missing"), query={"match_all": {}})
    assert info.value.error == "index_not_found_exception"
    with pytest.raises(NotFoundError):
        es.client.count(index=es.name("missing"))
    with pytest.raises(NotFoundError):
        es.client.get(index=es.name("missing"), id="1")


def test_unknown_query_parameter_is_refused(es, es_url):
    es.client.indices.create(index=es.name())
    conn = _conn(es_url)
    conn.request("GET", f"/{es.name()}/_search?no_such_param=1")
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 400
    assert "no_such_param" in body["error"]["reason"]


def test_gzip_request_body_is_accepted(es_url, es):
    index = es.create()
    client = Elasticsearch(es_url, http_compress=True)
    client.bulk(operations=[{"index": {"_index": index, "_id": "1"}}, {"l": 1}])
    assert client.get(index=index, id="1")["_source"] == {"l": 1}
    client.close()


def test_standin_refuses_unsupported_endpoints_by_name(es, es_url, standin_only):
    conn = _conn(es_url)
    conn.request("POST", f"/{es.name()}/_rollover")
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 400
    assert "_rollover" in body["error"]["reason"] and "stand-in" in body["error"]["reason"]


def test_standin_refuses_unsupported_query_naming_it(es, standin_only):
    es.client.indices.create(index=es.name())
    with pytest.raises(BadRequestError) as info:
        es.client.search(index=es.name(), query={"query_string": {"query": "a:b"}})
    assert "query_string" in str(info.value)
    with pytest.raises(BadRequestError) as info:
        es.client.search(index=es.name(), highlight={"fields": {"a": {}}})
    assert "highlight" in str(info.value)
    with pytest.raises(BadRequestError) as info:
        es.client.search(index=es.name(), aggs={"p": {"percentiles": {"field": "a"}}})
    assert "percentiles" in str(info.value)


def test_raw_ndjson_bulk_with_post_and_put(es, es_url):
    index = es.create()
    conn = _conn(es_url)
    with_index = (json.dumps({"index": {"_index": index, "_id": "1"}}) + "\n" + json.dumps({"l": 1}) + "\n"
                  + json.dumps({"index": {"_index": index, "_id": "2"}}) + "\n" + json.dumps({"l": 2}) + "\n")
    in_url = json.dumps({"index": {"_id": "2"}}) + "\n" + json.dumps({"l": 3}) + "\n"
    for method, path, payload in (("POST", "/_bulk", with_index), ("PUT", f"/{index}/_bulk", in_url)):
        conn.request(method, path + "?refresh=true", body=payload,
                     headers={"Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        result = json.loads(resp.read())
        assert resp.status == 200, result
        assert resp.getheader("X-Elastic-Product") == "Elasticsearch"
    assert result["items"][0]["index"]["status"] == 200  # "2" was created by the first request, replaced here
    assert es.client.count(index=index)["count"] == 2


def test_filter_path_trims_the_reply(es):
    index = es.create()
    es.put(index, {"1": {"l": 1, "d": 2}})
    resp = es.client.search(index=index, filter_path=["hits.hits._id", "hits.total.value"])
    assert resp.body == {"hits": {"total": {"value": 1}, "hits": [{"_id": "1"}]}}
    resp = es.client.search(index=index, filter_path="hits.hits._source.l")
    assert resp.body == {"hits": {"hits": [{"_source": {"l": 1}}]}}
    resp = es.client.bulk(operations=[{"index": {"_index": index, "_id": "2"}}, {"l": 2}],
                          filter_path="errors,items.*.status")
    assert resp.body == {"errors": False, "items": [{"index": {"status": 201}}]}


def test_refresh_everything(es):
    es.put(es.create(), {"1": {"l": 1}})
    assert es.client.indices.refresh()["_shards"]["failed"] == 0
