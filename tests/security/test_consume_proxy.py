"""Attacks on the read paths: a consumer granted one sensor of tenant A reaches for tenant B's data, and A's others.

Through the real services: the composed API under gunicorn, Google's Firestore emulator, the Elasticsearch stand-in
holding both tenants' readings in the same monthly index. Every case asserts the documented status, that a refusal
is the proxy's own (its message names where the body broke the grammar, so a body that slipped through to the
store and was refused there would fail the case), and that nothing of tenant B, of A's ungranted sensor or of the
internal fields appears in the reply. One test shows the store itself would leak, so the refusals are what protects.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

import pytest
import requests
from elasticsearch import Elasticsearch
from google.cloud import firestore

from emulators.api_client import ApiClient
from infra.adapters.elasticsearch import ALIAS, build_document, bulk_index
from tests.support.accounts import signed_in_admin
from tests.support.names import unique

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
_PLACEHOLDER = re.compile(r"\{(granted|ungranted|b|b2|b_doc)\}")
GRANTED_VALUES = [1.5, 2.5, 3.5, 4.5, 5.5]
B_VALUE = 666.125  # a number only tenant B's readings hold
SEED_GATEWAY = "proxy-attack-seed"  # the internal ``gateway`` field of every seeded reading


@dataclass
class ProxyWorld:
    """Tenant A (a consumer granted ``granted``; ``ungranted`` is A's too) and tenant B, with readings in the store."""

    api: str
    es: Elasticsearch
    consumer_token: str
    b_token: str  # tenant B's user token
    granted: str
    ungranted: str
    a_device: str
    a_user: str
    b_user: str
    b_device: str
    b_sensors: tuple[str, str]
    b_doc: str  # the _id of one of B's readings
    secrets: tuple[str, ...]  # what must never appear in a reply to A's consumer

    def call(self, method: str, path: str, body=None, *, token: str | None = None, params=None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.consumer_token}"}
        return requests.request(method, f"{self.api}/api/consumers/consume/{self.fill(path)}", json=body,
                                params=params, headers=headers, timeout=30)

    def fill(self, template: str) -> str:
        """Put the world's ids in for ``{granted}``, ``{ungranted}``, ``{b}``, ``{b2}`` and ``{b_doc}``."""
        return template.format(granted=self.granted, ungranted=self.ungranted, b=self.b_sensors[0],
                               b2=self.b_sensors[1], b_doc=self.b_doc)

    def fill_body(self, value):
        """A body with the world's ids put in for the strings that are exactly a placeholder."""
        if isinstance(value, str):
            return self.fill(value) if _PLACEHOLDER.fullmatch(value) else value
        if isinstance(value, list):
            return [self.fill_body(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill_body(v) for k, v in value.items()}
        return value

    def assert_nothing_leaks(self, response: requests.Response, sent: str = "") -> None:
        """No secret in the reply, unless the request itself carried it (an id echoed back in a refusal)."""
        leaked = [s for s in self.secrets if s in response.text and s not in sent]
        assert not leaked, f"{leaked} in {response.text[:500]}"


@pytest.fixture(scope="module")
def proxy_world(stack) -> ProxyWorld:
    """An API process of this module's own, two tenants made through it, and their readings in the store."""
    stack.start_service("api", key="proxy-attack-api")
    db = firestore.Client(project=stack.project)
    es = Elasticsearch(stack.es_url, request_timeout=30)
    try:
        api = stack.url("proxy-attack-api", "")
        admin = signed_in_admin(stack.settings(), db, api)
        a, b = (_tenant(admin, api, name) for name in ("a", "b"))
        a_device = a.create_device("a-meter")["id"]
        granted = a.create_sensor(a_device, "granted", '{"type":"double"}')["id"]
        ungranted = a.create_sensor(a_device, "ungranted", '{"type":"keyword"}')["id"]
        b_device = b.create_device("b-meter")["id"]
        b_sensors = (b.create_sensor(b_device, "b-double", '{"type":"double"}')["id"],
                     b.create_sensor(b_device, "b-keyword", '{"type":"keyword"}')["id"])
        consumer = a.create_consumer("a-dashboard")["id"]
        a.grant(consumer, granted)
        a_user, b_user = a.me()["id"], b.me()["id"]
        a_hidden, b_secret = unique("a-hidden"), unique("b-secret")
        now = time.time_ns()
        readings = [(granted, "double", v, a_device, a_user) for v in GRANTED_VALUES]
        readings += [(ungranted, "keyword", a_hidden, a_device, a_user)] * 3
        readings += [(b_sensors[0], "double", B_VALUE, b_device, b_user)] * 3
        readings += [(b_sensors[1], "keyword", b_secret, b_device, b_user)] * 3
        docs = [build_document({"sensor_id": sensor, "type": kind, "value": value, "timestamp": now - i * 10**9},
                               device_id=device, owner_id=owner, gateway=SEED_GATEWAY,
                               received_at="2026-01-01T00:00:00.000000000Z")
                for i, (sensor, kind, value, device, owner) in enumerate(readings)]
        report = bulk_index(es, docs)
        assert report.indexed == len(docs), report
        es.indices.refresh(index=ALIAS)  # a real cluster shows writes after a refresh
        b_doc = next(doc.id for doc in docs if doc.sensor_id == b_sensors[0])
        yield ProxyWorld(
            api=api, es=es, consumer_token=a.consumer_key(consumer)["token"], b_token=b.token, granted=granted,
            ungranted=ungranted, a_device=a_device, a_user=a_user, b_user=b_user, b_device=b_device,
            b_sensors=b_sensors, b_doc=b_doc,
            secrets=(b_user, b_device, *b_sensors, b_secret, str(B_VALUE), ungranted, a_hidden, a_user,
                     SEED_GATEWAY, "owner_id", "gateway"))
    finally:
        es.close()
        db.close()
        stack.stop_service("proxy-attack-api")


def _tenant(admin: ApiClient, api: str, name: str) -> ApiClient:
    username = unique(f"proxy{name}").replace("-", "")
    admin.create_user(username, PASSWORD)
    client = ApiClient(api)
    client.signin(username, PASSWORD)
    return client


# --- the store itself would leak ----------------------------------------------------------------------------------


def test_the_store_itself_lists_every_tenant_with_min_doc_count_0(proxy_world):
    """What the proxy refuses is what Elasticsearch (and the stand-in) answer: the proxy's refusal is the defence."""
    w = proxy_world
    reply = w.es.search(index=ALIAS, size=0, query={"bool": {"filter": [{"terms": {"sensor_id": [w.granted]}}]}},
                        aggs={"owners": {"terms": {"field": "owner_id", "min_doc_count": 0, "size": 1000}},
                              "devices": {"terms": {"field": "device_id", "min_doc_count": 0, "size": 1000}}})
    owners = {b["key"]: b["doc_count"] for b in reply["aggregations"]["owners"]["buckets"]}
    devices = {b["key"] for b in reply["aggregations"]["devices"]["buckets"]}
    assert owners[w.a_user] == len(GRANTED_VALUES) and owners[w.b_user] == 0
    assert w.b_device in devices


# --- index expressions and methods --------------------------------------------------------------------------------

INDEX_ATTACKS = [
    # (method, path under /api/consumers/consume/, status, code)
    ("POST", "{b}/_search", 403, "not_granted"),
    ("POST", "{b}/_count", 403, "not_granted"),
    ("GET", "{b}", 403, "not_granted"),
    ("POST", "{ungranted}/_search", 403, "not_granted"),
    ("POST", "{granted},{b}/_search", 403, "not_granted"),
    ("POST", "{granted}%2C{b}/_search", 403, "not_granted"),
    ("POST", "{granted},{ungranted}/_count", 403, "not_granted"),
    ("POST", "{granted}, {b2}/_search", 403, "not_granted"),
    ("POST", "telemetry/_search", 403, "not_granted"),
    ("POST", "remote:{b}/_search", 403, "not_granted"),
    ("POST", "%3Ctelemetry-%7Bnow%2FM%7D%3E/_search", 403, "read_only"),  # %2F splits the path
    ("POST", "*/_search", 403, "read_only"),
    ("POST", "_all/_search", 403, "read_only"),
    ("POST", "telemetry-*/_search", 403, "read_only"),
    ("POST", "{granted},*/_search", 403, "read_only"),
    ("POST", "{granted}%2C*/_search", 403, "read_only"),
    ("POST", "{granted},-{b}/_search", 403, "read_only"),
    ("POST", "-{granted}/_search", 403, "read_only"),
    ("GET", "_search", 403, "read_only"),
    ("POST", "_search", 403, "read_only"),
    ("POST", "_msearch", 403, "read_only"),
    ("POST", "_sql", 403, "read_only"),
    ("GET", "{granted}/_doc/{b_doc}", 403, "read_only"),
    ("GET", "{granted}/_source/{b_doc}", 403, "read_only"),
    ("POST", "{granted}/_mget", 403, "read_only"),
    ("POST", "{granted}/_search/template", 403, "read_only"),
    ("POST", "{granted}/_search/", 200, None),  # the search itself, as in ES
    ("GET", "{granted}/_mapping", 403, "read_only"),
    ("POST", "{granted}/_explain/{b_doc}", 403, "read_only"),
    ("POST", "{granted}/_field_caps", 403, "read_only"),
    ("POST", "{granted}/_terms_enum", 403, "read_only"),
    ("POST", "{granted}/_pit", 403, "read_only"),
    ("GET", "%2e%2e/{b}/_search", 403, "read_only"),
    # Other methods: 403 below an index, 405 on _search and _count themselves.
    ("POST", "{granted}", 403, "read_only"),
    ("PUT", "{granted}", 403, "read_only"),
    ("DELETE", "{granted}", 403, "read_only"),
    ("PUT", "{granted}/_doc/1", 403, "read_only"),
    ("DELETE", "{granted}/_doc/{b_doc}", 403, "read_only"),
    ("POST", "{granted}/_delete_by_query", 403, "read_only"),
    ("POST", "{granted}/_update_by_query", 403, "read_only"),
    ("PUT", "{granted}/_search", 405, None),
    ("DELETE", "{granted}/_search", 405, None),
    ("PATCH", "{granted}/_search", 405, None),
    ("DELETE", "{granted}/_count", 405, None),
]


@pytest.mark.parametrize("method, path, status, code", INDEX_ATTACKS, ids=[f"{m} {p}" for m, p, *_ in INDEX_ATTACKS])
def test_index_expressions_and_methods_reach_nothing_else(proxy_world, method, path, status, code):
    w = proxy_world
    response = w.call(method, path, {"query": {"match_all": {}}} if method != "GET" else None)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code
    w.assert_nothing_leaks(response, sent=w.fill(path))


def test_another_tenants_user_cannot_read_a_granted_sensor(proxy_world):
    w = proxy_world
    response = w.call("POST", "{granted}/_search", {}, token=w.b_token)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


# --- crafted bodies -----------------------------------------------------------------------------------------------

MIN0 = {"field": "device_id", "min_doc_count": 0, "size": 1000}


def _nest(levels: list[dict], under: str) -> dict:
    """``levels`` (outermost first) as aggregations nested under ``under`` ("aggs" or "aggregations")."""
    spec: dict = {}
    for i, level in reversed(list(enumerate(levels))):
        spec = {f"l{i}": {**level, **({under: spec} if spec else {})}}
    return spec


HIST = {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}}
TERMS = {"terms": {"field": "sensor_id"}}

BODY_ATTACKS = [
    # (id, path, body, message the refusal starts with)
    ("issue-13-owner-leak", "{granted}/_search",
     {"size": 0, "aggs": {"v": {"terms": {"field": "owner_id", "min_doc_count": 0, "size": 1000}}}},
     "aggs.v.terms.field: field 'owner_id' is not allowed here"),
    ("min-doc-count-0", "{granted}/_search", {"size": 0, "aggs": {"v": {"terms": MIN0}}},
     "aggs.v.terms.min_doc_count must be >= 1"),
    ("min-doc-count-0-aggregations", "{granted}/_search", {"size": 0, "aggregations": {"v": {"terms": MIN0}}},
     "aggregations.v.terms.min_doc_count must be >= 1"),
    *[(f"min-doc-count-0-depth-{depth}-{under}", "{granted}/_search",
       {"size": 0, under: _nest([HIST, TERMS][:depth - 1] + [{"terms": MIN0}], under)},
       f"{under}." + "".join(f"l{i}.{under}." for i in range(depth - 1)) + f"l{depth - 1}.terms.min_doc_count")
      for depth in (2, 3) for under in ("aggs", "aggregations")],
    ("min-doc-count-0-on-keyword-values", "{granted}/_search",
     {"aggs": {"v": {"terms": {"field": "value_keyword", "min_doc_count": 0}}}}, "aggs.v.terms.min_doc_count"),
    ("min-doc-count-0-on-numbers", "{granted}/_search",
     {"aggs": {"v": {"terms": {"field": "value_double", "min_doc_count": 0}}}}, "aggs.v.terms.min_doc_count"),
    ("date-histogram-min-doc-count-0", "{granted}/_search",
     {"aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1ms", "min_doc_count": 0}}}},
     "aggs.h.date_histogram.min_doc_count must be >= 1"),
    ("extended-bounds", "{granted}/_search",
     {"aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1ms",
                                        "extended_bounds": {"min": 0, "max": 4102444800000}}}}},
     "aggs.h.date_histogram.extended_bounds is not allowed"),
    ("include-partition", "{granted}/_search",
     {"aggs": {"v": {"terms": {"field": "device_id", "include": {"partition": 3, "num_partitions": 50}}}}},
     "aggs.v.terms.include is not allowed"),
    ("exclude", "{granted}/_search", {"aggs": {"v": {"terms": {"field": "sensor_id", "exclude": "{granted}"}}}},
     "aggs.v.terms.exclude is not allowed"),
    ("global", "{granted}/_search", {"aggs": {"g": {"global": {}, "aggs": {"o": {"terms": {"field": "device_id"}}}}}},
     "aggs.g.global is not allowed"),
    ("global-alone", "{granted}/_search", {"aggs": {"g": {"global": {}}}}, "aggs.g.global is not allowed"),
    ("significant-terms", "{granted}/_search", {"aggs": {"s": {"significant_terms": {"field": "device_id"}}}},
     "aggs.s.significant_terms is not allowed"),
    ("top-hits", "{granted}/_search", {"aggs": {"t": {"top_hits": {}}}}, "aggs.t.top_hits is not allowed"),
    ("terms-missing", "{granted}/_search", {"aggs": {"v": {"terms": {"field": "type", "missing": "x"}}}},
     "aggs.v.terms.missing is not allowed"),
    # Sorts.
    ("script-sort", "{granted}/_search",
     {"sort": [{"_script": {"type": "string", "order": "asc", "script": {"source": "doc['owner_id'].value"}}}]},
     "sort[0]: field '_script' is not allowed here"),
    ("sort-on-owner", "{granted}/_search", {"sort": [{"owner_id": "asc"}]}, "sort[0]: field 'owner_id'"),
    ("sort-mode", "{granted}/_search", {"sort": [{"value_double": {"order": "asc", "mode": "max"}}]},
     "sort[0].value_double.mode is not allowed"),
    ("sort-nested", "{granted}/_search", {"sort": [{"value_double": {"nested": {"path": "x"}}}]},
     "sort[0].value_double.nested is not allowed"),
    # Scripts anywhere.
    ("script-query", "{granted}/_search", {"query": {"script": {"script": {"source": "true"}}}},
     "query.script is not allowed"),
    ("script-in-bool", "{granted}/_count", {"query": {"bool": {"filter": [{"script": {"script": "true"}}]}}},
     "query.bool.filter[0].script is not allowed"),
    ("script-score", "{granted}/_search", {"query": {"script_score": {"query": {"match_all": {}}, "script": "1"}}},
     "query.script_score is not allowed"),
    ("function-score", "{granted}/_search", {"query": {"function_score": {"script_score": {"script": "1"}}}},
     "query.function_score is not allowed"),
    ("script-in-aggregation", "{granted}/_search", {"aggs": {"v": {"terms": {"script": "doc['owner_id'].value"}}}},
     "aggs.v.terms.script is not allowed"),
    ("null-script-in-aggregation", "{granted}/_search",
     {"aggs": {"v": {"max": {"field": "value_double", "script": None}}}}, "aggs.v.max.script is not allowed"),
    ("bucket-script", "{granted}/_search",
     {"aggs": {"h": {**HIST, "aggs": {"b": {"bucket_script": {"buckets_path": {}, "script": "1"}}}}}},
     "aggs.h.aggs.b.bucket_script is not allowed"),
    ("scripted-metric", "{granted}/_search", {"aggs": {"m": {"scripted_metric": {"map_script": "1"}}}},
     "aggs.m.scripted_metric is not allowed"),
    ("script-fields", "{granted}/_search", {"script_fields": {"o": {"script": "params._source.owner_id"}}},
     "script_fields is not allowed"),
    ("runtime-mappings", "{granted}/_search",
     {"runtime_mappings": {"o": {"type": "keyword", "script": "emit(doc['owner_id'].value)"}},
      "aggs": {"o": {"terms": {"field": "o"}}}}, "runtime_mappings is not allowed"),
    # What a hit may show.
    ("source-owner", "{granted}/_search", {"_source": ["owner_id"]}, "_source[0]: field 'owner_id'"),
    ("source-wildcard", "{granted}/_search", {"_source": {"includes": ["*"]}}, "_source.includes[0]: field '*'"),
    ("docvalue-fields", "{granted}/_search", {"docvalue_fields": ["owner_id"]}, "docvalue_fields is not allowed"),
    ("fields", "{granted}/_search", {"fields": ["*"]}, "fields is not allowed"),
    ("stored-fields", "{granted}/_search", {"stored_fields": ["*"]}, "stored_fields is not allowed"),
    ("highlight", "{granted}/_search", {"highlight": {"fields": {"*": {}}}}, "highlight is not allowed"),
    ("post-filter", "{granted}/_search", {"post_filter": {"match_all": {}}}, "post_filter is not allowed"),
    ("collapse", "{granted}/_search", {"collapse": {"field": "owner_id"}}, "collapse is not allowed"),
    ("suggest", "{granted}/_search", {"suggest": {"s": {"text": "b", "term": {"field": "owner_id"}}}},
     "suggest is not allowed"),
    ("profile", "{granted}/_search", {"profile": True}, "profile is not allowed"),
    ("explain", "{granted}/_search", {"explain": True}, "explain is not allowed"),
    ("pit", "{granted}/_search", {"pit": {"id": "x"}}, "pit is not allowed"),
    ("knn", "{granted}/_search", {"knn": {}}, "knn is not allowed"),
    ("indices-boost", "{granted}/_search", {"indices_boost": [{"telemetry": 2}]}, "indices_boost is not allowed"),
    ("min-score", "{granted}/_search", {"min_score": 0.5}, "min_score is not allowed"),
    ("rescore", "{granted}/_search", {"rescore": {}}, "rescore is not allowed"),
    # Paging and queries.
    ("search-after-shape", "{granted}/_search", {"sort": ["@timestamp"], "search_after": [{"owner_id": 1}]},
     "search_after[0] must be a string, a number or a boolean"),
    ("search-after-without-sort", "{granted}/_search", {"search_after": ["{b_doc}"]},
     "search_after must hold one value per sort key"),
    ("terms-lookup", "{granted}/_search",
     {"query": {"terms": {"sensor_id": {"index": "telemetry", "id": "{b_doc}", "path": "sensor_id"}}}},
     "query.terms.sensor_id must be a list of values"),
    ("query-on-owner", "{granted}/_count", {"query": {"term": {"owner_id": "x"}}}, "query.term: field 'owner_id'"),
    ("exists-wildcard", "{granted}/_count", {"query": {"exists": {"field": "owner*"}}},
     "query.exists.field: field 'owner*'"),
    ("count-with-aggs", "{granted}/_count", {"aggs": {"v": {"terms": MIN0}}}, "aggs is not allowed"),
    ("window", "{granted}/_search", {"from": 9_999, "size": 2}, "from + size must not exceed"),
]


@pytest.mark.parametrize("path, body, message", [case[1:] for case in BODY_ATTACKS],
                         ids=[case[0] for case in BODY_ATTACKS])
def test_crafted_bodies_are_refused_by_the_proxy_naming_where(proxy_world, path, body, message):
    w = proxy_world
    body = w.fill_body(body)
    response = w.call("POST", path, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_query" and error["message"].startswith(message), error
    w.assert_nothing_leaks(response, json.dumps(body))


@pytest.mark.parametrize("params", [{"q": "owner_id:*"}, {"_source": "owner_id"}, {"size": "1000"},
                                    {"filter_path": "aggregations"}])
def test_query_string_parameters_are_refused(proxy_world, params):
    response = proxy_world.call("POST", "{granted}/_search", {}, params=params)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_query", response.text
    assert response.json()["error"]["message"].startswith("query-string parameters are not supported")


# --- allowed bodies show the grant and nothing else ---------------------------------------------------------------

ALLOWED = [
    ("match-all", {"size": 100}),
    ("should-another-sensor", {"size": 100, "query": {"bool": {"should": [{"match_all": {}},
                                                                          {"term": {"sensor_id": "{b}"}}]}}}),
    ("ids-of-another-tenant", {"query": {"ids": {"values": ["{b_doc}"]}}}),
    ("must-not-the-grant", {"query": {"bool": {"must_not": [{"term": {"sensor_id": "{granted}"}}]}}}),
    ("prefix-and-wildcard", {"query": {"bool": {"should": [{"prefix": {"sensor_id": ""}},
                                                           {"wildcard": {"device_id": "*"}}]}}}),
    ("range-over-everything", {"query": {"range": {"value_double": {"gte": -1e300}}}, "size": 100}),
    *[(f"terms-depth-{depth}-{under}", {"size": 0, under: _nest(
        [{"terms": {"field": f, "min_doc_count": 1, "size": 1000}}
         for f in ("device_id", "sensor_id", "type")][:depth], under)})
      for depth in (1, 2, 3) for under in ("aggs", "aggregations")],
    ("histogram-of-terms", {"size": 0, "aggs": {"h": {**HIST, "aggs": {"k": {"terms": {"field": "value_keyword"}},
                                                                         "v": {"stats": {"field": "value_double"}}}}}}),
    ("sort-and-search-after", {"sort": [{"sensor_id": "desc"}, {"@timestamp": "asc"}], "size": 2,
                               "search_after": ["{b}", 0]}),
    ("source-everything", {"_source": True, "size": 100}),
]


@pytest.mark.parametrize("endpoint", ["_search", "_count"])
@pytest.mark.parametrize("body", [case[1] for case in ALLOWED], ids=[case[0] for case in ALLOWED])
def test_allowed_bodies_show_the_granted_sensor_only(proxy_world, body, endpoint):
    w = proxy_world
    if endpoint == "_count":
        body = {"query": body["query"]} if "query" in body else {}
    body = w.fill_body(body)
    response = w.call("POST", f"{{granted}}/{endpoint}", body)
    assert response.status_code == 200, response.text
    w.assert_nothing_leaks(response, json.dumps(body))
    reply = response.json()
    if endpoint == "_count":
        assert reply["count"] in (0, len(GRANTED_VALUES))
        return
    hits = reply["hits"]["hits"]
    assert all(hit["_source"]["sensor_id"] == w.granted for hit in hits)
    assert {hit["_score"] for hit in hits} <= {0.0, None}  # filter context: no term statistics of the shard
    assert all(bucket["doc_count"] >= 1 for bucket in _buckets(reply.get("aggregations", {})))  # none from the shard


def _buckets(aggregations: dict):
    for result in aggregations.values():
        for bucket in result.get("buckets", []) if isinstance(result, dict) else []:
            yield bucket
            yield from _buckets({k: v for k, v in bucket.items() if isinstance(v, dict)})


def test_the_original_latest_call_shows_readable_fields_of_the_grant(proxy_world):
    w = proxy_world
    response = w.call("GET", "{granted}")
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]["hits"]
    assert sorted(hit["_source"]["value_double"] for hit in hits) == GRANTED_VALUES
    w.assert_nothing_leaks(response)


def test_an_aggregation_over_every_readable_field_names_only_the_grant(proxy_world):
    w = proxy_world
    fields = ("sensor_id", "device_id", "type", "value_keyword", "value_double")
    body = {"size": 0, "aggs": {f: {"terms": {"field": f, "size": 1000}} for f in fields}}
    aggs = w.call("POST", "{granted}/_search", body).json()["aggregations"]
    assert [b["key"] for b in aggs["sensor_id"]["buckets"]] == [w.granted]
    assert [b["key"] for b in aggs["device_id"]["buckets"]] == [w.a_device]
    assert aggs["value_keyword"]["buckets"] == []
    assert sorted(b["key"] for b in aggs["value_double"]["buckets"]) == GRANTED_VALUES


# --- the data API -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sensor, params, status", [
    ("{b}", {}, 403), ("{b2}", {"format": "csv"}, 403), ("{ungranted}", {}, 403),
    ("{b}", {"interval": "1m", "agg": "count"}, 403), ("{granted},{b}", {}, 403), ("%2e%2e", {}, 403),
])
def test_the_data_api_refuses_what_is_not_granted(proxy_world, sensor, params, status):
    w = proxy_world
    path = w.fill(sensor)
    response = requests.get(f"{w.api}/api/sensors/{path}/data", params=params, timeout=30,
                            headers={"Authorization": f"Bearer {w.consumer_token}"})
    assert response.status_code == status, response.text
    w.assert_nothing_leaks(response, sent=path)


def test_the_data_api_serves_the_grant(proxy_world):
    w = proxy_world
    response = requests.get(f"{w.api}/api/sensors/{w.granted}/data", timeout=30,
                            headers={"Authorization": f"Bearer {w.consumer_token}"})
    assert sorted(p["value"] for p in response.json()["points"]) == GRANTED_VALUES
    w.assert_nothing_leaks(response)
