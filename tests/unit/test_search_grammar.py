"""The consume proxy's grammar: what passes (and what it becomes), and what is refused with a message naming where."""

from __future__ import annotations

import re

import pytest

from infra.adapters.elasticsearch.grammar import (AGGREGATIONS, BOOLEAN_FIELDS, DATE_FIELDS, KEYWORD_FIELDS,
                                                  NUMERIC_FIELDS, QUERIES, READABLE_FIELDS, check_count,
                                                  check_search)
from infra.adapters.elasticsearch.schema import MAPPINGS
from infra.config import ROOT
from infra.domain.errors import QueryError
from infra.domain.queries import MAX_SIZE, MAX_TERMS

ALL_READABLE = {"includes": list(READABLE_FIELDS)}


def test_the_readable_fields_are_the_mapping_but_owner_id_and_gateway():
    types = {name: spec["type"] for name, spec in MAPPINGS["properties"].items()}
    assert set(types) - set(READABLE_FIELDS) == {"owner_id", "gateway"}
    assert {types[f] for f in DATE_FIELDS} == {"date_nanos"} and {types[f] for f in KEYWORD_FIELDS} == {"keyword"}
    assert {types[f] for f in NUMERIC_FIELDS} == {"double", "long"}
    assert {types[f] for f in BOOLEAN_FIELDS} == {"boolean"}


def test_the_readme_documents_every_query_and_aggregation_type():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### The consume proxy's grammar"):]
    section = section[:section.index("\n## ")]
    for name in [*QUERIES, *AGGREGATIONS]:
        assert re.search(rf"`{name}`", section), name


@pytest.mark.parametrize("body, sent", [
    pytest.param({}, {"_source": ALL_READABLE}, id="empty"),
    pytest.param({"size": 5000, "track_total_hits": True}, {"size": MAX_SIZE, "track_total_hits": True,
                                                            "_source": ALL_READABLE}, id="size-capped"),
    pytest.param({"_source": False}, {"_source": False}, id="no-source"),
    pytest.param({"_source": "value_long"}, {"_source": {"includes": ["value_long"]}}, id="one-field"),
    pytest.param({"_source": {"excludes": ["type"]}}, {"_source": {**ALL_READABLE, "excludes": ["type"]}},
                 id="excludes"),
    pytest.param({"sort": ["sensor_id", {"@timestamp": "desc"},
                           {"value_double": {"order": "asc", "missing": "_first", "unmapped_type": "double"}}],
                  "search_after": ["s", 1, None]},
                 {"sort": ["sensor_id", {"@timestamp": "desc"},
                           {"value_double": {"order": "asc", "missing": "_first", "unmapped_type": "double"}}],
                  "search_after": ["s", 1, None], "_source": ALL_READABLE}, id="sort-and-search-after"),
    pytest.param({"aggs": {"t": {"terms": {"field": "type", "size": 5000, "order": {"_key": "asc"}}}}},
                 {"aggs": {"t": {"terms": {"field": "type", "size": MAX_TERMS, "order": {"_key": "asc"}}}},
                  "_source": ALL_READABLE}, id="terms-size-capped"),
    pytest.param({"aggregations": {"h": {"date_histogram": {"field": "@timestamp", "calendar_interval": "1d",
                                                            "time_zone": "+01:00", "offset": "-2h", "keyed": True,
                                                            "format": "strict_date_optional_time"}}}},
                 {"aggregations": {"h": {"date_histogram": {"min_doc_count": 1, "field": "@timestamp",
                                                            "calendar_interval": "1d", "time_zone": "+01:00",
                                                            "offset": "-2h", "keyed": True,
                                                            "format": "strict_date_optional_time"}}},
                  "_source": ALL_READABLE}, id="date-histogram-gets-min-doc-count-1"),
])
def test_bodies_that_pass_and_what_is_sent(body, sent):
    assert check_search(body) == sent


def test_every_query_and_aggregation_type_has_a_passing_form():
    """Each allowed type with a field (or what it takes), nested as deep as allowed, passes unchanged."""
    queries = [{"match_all": {}}, {"match_none": {}}, {"exists": {"field": "type"}}, {"ids": {"values": ["a:1"]}},
               {"term": {"value_boolean": True}}, {"terms": {"sensor_id": ["a", "b"], "boost": 2}},
               {"match": {"value_keyword": {"query": "on", "boost": 1.5}}}, {"prefix": {"device_id": "d"}},
               {"wildcard": {"type": {"value": "d*ble"}}},
               {"range": {"@timestamp": {"gte": "now-1d/d", "lt": 1764300000000, "format": "epoch_millis",
                                         "time_zone": "UTC"}}}]
    should = {"bool": {"should": queries[3:], "minimum_should_match": "50%"}}
    nested = {"bool": {"must": queries[:3], "filter": {"constant_score": {"filter": should}},
                       "must_not": [{"range": {"value_long": {"gt": 5}}}], "boost": 1}}
    assert {kind for q in queries for kind in q} | {"bool", "constant_score"} == set(QUERIES)
    assert check_count({"query": nested}) == {"query": nested}
    metrics = {kind: {kind: {"field": "value_long"}} for kind, grammar in AGGREGATIONS.items() if not grammar.buckets}
    aggs = {"h": {"date_histogram": {"field": "received_at", "fixed_interval": "90s", "min_doc_count": 2},
                  "aggs": {"t": {"terms": {"field": "value_boolean", "min_doc_count": 1}, "aggregations": metrics}}}}
    assert check_search({"size": 0, "aggs": aggs})["aggs"] == aggs


@pytest.mark.parametrize("body, message", [
    # The leak of issue 13 and its variants: zero-count buckets come from the whole shard.
    ({"aggs": {"v": {"terms": {"field": "device_id", "min_doc_count": 0}}}}, "aggs.v.terms.min_doc_count must be >= 1"),
    ({"aggs": {"v": {"terms": {"field": "owner_id", "min_doc_count": 1}}}},
     "aggs.v.terms.field: field 'owner_id' is not allowed here"),
    ({"aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m", "min_doc_count": 0}}}},
     "aggs.h.date_histogram.min_doc_count must be >= 1"),
    ({"aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"},
                     "aggs": {"v": {"terms": {"field": "type", "min_doc_count": 0}}}}}},
     "aggs.h.aggs.v.terms.min_doc_count must be >= 1"),
    ({"aggs": {"v": {"terms": {"field": "type", "include": {"partition": 0, "num_partitions": 20}}}}},
     "aggs.v.terms.include is not allowed (allowed: field, min_doc_count, order, size)"),
    ({"aggs": {"v": {"terms": {"field": "type", "exclude": ["a"]}}}}, "aggs.v.terms.exclude is not allowed"),
    ({"aggs": {"v": {"terms": {"field": "type", "missing": "x"}}}}, "aggs.v.terms.missing is not allowed"),
    ({"aggs": {"v": {"terms": {"field": "type", "order": {"max_v": "desc"}}}}}, "aggs.v.terms.order must be one of"),
    ({"aggs": {"g": {"global": {}}}}, "aggs.g.global is not allowed (aggregation types:"),
    ({"aggs": {"v": {"avg": {"field": "value_double"}, "aggs": {"w": {"max": {"field": "value_long"}}}}}},
     "aggs.v.aggs is not allowed: a avg aggregation has no buckets"),
    ({"aggs": {"v": {"terms": {"field": "type"}, "aggs": {}, "aggregations": {}}}}, "aggs.v names both"),
    ({"aggs": {"v": {"terms": {"field": "type"}, "meta": {}}}}, "aggs.v must name exactly one aggregation type"),
    ({"aggs": {"a b": {"avg": {"field": "value_double"}}}}, "aggs.a b is not a valid name"),
    ({"aggs": {}, "aggregations": {}}, "aggs and aggregations are both given"),
    ({"aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m",
                                        "extended_bounds": {"min": 0, "max": 9e15}}}}},
     "aggs.h.date_histogram.extended_bounds is not allowed"),
    ({"aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m", "hard_bounds": {}}}}},
     "aggs.h.date_histogram.hard_bounds is not allowed"),
    ({"aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "0s"}}}},
     "aggs.h.date_histogram.fixed_interval must be a duration"),
    ({"aggs": {"h": {"date_histogram": {"field": "@timestamp"}}}},
     "aggs.h.date_histogram needs exactly one of fixed_interval, calendar_interval"),
    ({"aggs": {"h": {"date_histogram": {"field": "@timestamp", "calendar_interval": "1d",
                                        "time_zone": "Europe/Paris"}}}}, "aggs.h.date_histogram.time_zone must be"),
    ({"aggs": {"h": {"date_histogram": {"field": "value_long", "calendar_interval": "1d"}}}},
     "aggs.h.date_histogram.field: field 'value_long' is not allowed here"),
    # Scripts, anywhere.
    ({"query": {"script": {"script": "true"}}}, "query.script is not allowed (query types:"),
    ({"query": {"bool": {"filter": {"script_score": {}}}}}, "query.bool.filter.script_score is not allowed"),
    ({"aggs": {"v": {"avg": {"field": "value_double", "script": "_value * 2"}}}}, "aggs.v.avg.script is not allowed"),
    ({"aggs": {"v": {"bucket_script": {}}}}, "aggs.v.bucket_script is not allowed"),
    ({"sort": [{"_script": {"type": "number", "script": "1", "order": "asc"}}]},
     "sort[0]: field '_script' is not allowed here"),
    ({"script_fields": {"x": {"script": "1"}}}, "script_fields is not allowed (allowed: _source, aggregations,"),
    ({"runtime_mappings": {"owner": {"type": "keyword"}}}, "runtime_mappings is not allowed"),
    # Sorts.
    ({"sort": ["owner_id"]}, "sort[0]: field 'owner_id' is not allowed here"),
    ({"sort": "@timestamp:desc"}, "sort[0]: field '@timestamp:desc' is not allowed here"),
    ({"sort": [{"value_double": {"mode": "max"}}]}, "sort[0].value_double.mode is not allowed"),
    ({"sort": [{"value_double": {"nested": {"path": "x"}}}]}, "sort[0].value_double.nested is not allowed"),
    ({"sort": [{"value_double": {"format": "strict_date_optional_time"}}]},
     "sort[0].value_double.format is not allowed"),
    ({"sort": [{"value_double": {"missing": 0}}]}, "sort[0].value_double.missing must be one of: _first, _last"),
    ({"sort": ["_score"]}, "sort[0]: field '_score' is not allowed here"),
    ({"sort": ["type", "type"]}, "sort[1].type is sorted on twice"),
    # Other keys.
    ({"_source": ["value_*"]}, "_source[0]: field 'value_*' is not allowed here"),
    ({"_source": {"includes": ["owner_id"]}}, "_source.includes[0]: field 'owner_id' is not allowed here"),
    ({"_source": {"include": ["type"]}}, "_source.include is not allowed"),
    ({"search_after": [1]}, "search_after must hold one value per sort key (0 sort keys)"),
    ({"sort": ["type"], "search_after": [{"a": 1}]}, "search_after[0] must be a string, a number or a boolean"),
    ({"sort": ["type"], "search_after": ["a"], "from": 5}, "from must be 0 with search_after"),
    ({"track_total_hits": "yes"}, "track_total_hits must be an integer"),
    ({"size": 1.5}, "size must be an integer"), ({"from": True}, "from must be an integer"),
    ({"from": 9_500, "size": 600}, "from + size must not exceed 10000"),
    *[({key: {}}, f"{key} is not allowed") for key in (
        "fields", "docvalue_fields", "stored_fields", "highlight", "suggest", "collapse", "rescore", "profile",
        "explain", "pit", "knn", "indices_boost", "post_filter", "min_score", "version", "timeout", "stats")],
    # Queries.
    ({"query": {"terms": {"sensor_id": {"index": "telemetry", "id": "x", "path": "sensor_id"}}}},
     "query.terms.sensor_id must be a list of values (terms lookups are not allowed)"),
    ({"query": {"term": {"owner_id": "u1"}}}, "query.term: field 'owner_id' is not allowed here"),
    ({"query": {"term": {"type": {"value": "x", "case_insensitive": True}}}},
     "query.term.type.case_insensitive is not allowed"),
    ({"query": {"match": {"value_keyword": {"query": "x", "analyzer": "standard"}}}},
     "query.match.value_keyword.analyzer is not allowed"),
    ({"query": {"wildcard": {"type": {"value": "a*", "rewrite": "scoring_boolean"}}}},
     "query.wildcard.type.rewrite is not allowed"),
    ({"query": {"wildcard": {"type": "a\\*"}}}, "query.wildcard.type.value must not contain '\\'"),
    ({"query": {"wildcard": {"type": "*a*b*c*"}}}, "query.wildcard.type.value may hold at most 3 '*'"),
    ({"query": {"prefix": {"value_long": "1"}}}, "query.prefix: field 'value_long' is not allowed here"),
    ({"query": {"range": {"value_long": {"gte": 1, "format": "epoch_millis"}}}},
     "query.range.value_long.format is not allowed"),
    ({"query": {"range": {"@timestamp": {"gte": "2025-01-01", "format": "yyyy-MM-dd"}}}},
     "query.range.@timestamp.format must be one of"),
    ({"query": {"range": {"@timestamp": {"from": 1}}}}, "query.range.@timestamp.from is not allowed"),
    ({"query": {"bool": {"should": [{"match_all": {}}], "minimum_should_match": "1<50%"}}},
     "query.bool.minimum_should_match must be an integer or a percentage"),
    ({"query": {"match_all": {"boost": float("inf")}}}, "query.match_all.boost must be a non-negative number"),
    ({"query": {"exists": {"field": "*"}}}, "query.exists.field: field '*' is not allowed here"),
    ({"query": {"term": {"type": "x", "boost": 2}}}, "query.term must name exactly one field"),
    ({"query": {"ids": {"values": ["x"] * 1001}}}, "query.ids.values may hold at most 1000 values"),
    ({"query": {"term": {"type": "x" * 1025}}}, "query.term.type.value must be at most 1024 characters"),
    ({"query": {"has_child": {}}}, "query.has_child is not allowed"),
    ({"query": {"bool": {"filter": [{"bool": {"filter": [{"bool": {"filter": [{"bool": {"filter": [{"bool": {
        "filter": [{"bool": {"filter": [{"bool": {"filter": [{"bool": {"filter": [{"bool": {}}]}}]}}]}}]}}]}}]}}]}}]}}},
     "query.bool.filter[0].bool.filter[0].bool.filter[0].bool.filter[0].bool.filter[0].bool.filter[0].bool."
     "filter[0].bool.filter[0] nests compound queries more than 8 levels deep"),
])
def test_bodies_outside_the_grammar_are_refused_naming_where(body, message):
    with pytest.raises(QueryError) as refused:
        check_search(body)
    assert str(refused.value).startswith(message), str(refused.value)


def test_a_count_takes_a_checked_query_only():
    with pytest.raises(QueryError, match="^size is not allowed"):
        check_count({"size": 0})
    with pytest.raises(QueryError, match="^query.script is not allowed"):
        check_count({"query": {"script": {}}})


def test_the_checked_body_is_a_copy():
    body = {"aggs": {"t": {"terms": {"field": "type", "size": 5000}}}}
    check_search(body)
    assert body == {"aggs": {"t": {"terms": {"field": "type", "size": 5000}}}}
