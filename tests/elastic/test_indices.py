"""Indices, mappings, index templates, aliases and the shard limit through the official client."""

from __future__ import annotations

import pytest
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError


def test_create_exists_get_delete(es):
    name = es.name()
    resp = es.client.indices.create(index=name, settings={"number_of_shards": 1},
                                    mappings={"properties": {"sensor_id": {"type": "keyword"},
                                                             "value": {"type": "double"}}})
    assert resp["acknowledged"] is True and resp["index"] == name
    assert es.client.indices.exists(index=name)
    got = es.client.indices.get(index=name)[name]
    assert got["mappings"]["properties"]["sensor_id"] == {"type": "keyword"}
    assert got["settings"]["index"]["number_of_shards"] == "1"
    assert es.client.indices.get_mapping(index=name)[name]["mappings"]["properties"]["value"] == {"type": "double"}
    assert es.client.indices.delete(index=name)["acknowledged"] is True
    assert not es.client.indices.exists(index=name)


def test_create_twice_is_refused(es):
    es.client.indices.create(index=es.name())
    with pytest.raises(BadRequestError) as info:
        es.client.indices.create(index=es.name())
    assert info.value.error == "resource_already_exists_exception"


def test_invalid_index_name_is_refused(es):
    with pytest.raises(BadRequestError) as info:
        es.client.indices.create(index=es.name("UPPER"))
    assert info.value.error == "invalid_index_name_exception"


def test_delete_missing_index_is_not_found(es):
    with pytest.raises(NotFoundError):
        es.client.indices.delete(index=es.name("missing"))


def test_template_applies_on_auto_create_with_alias(es):
    pattern = es.name("telemetry-*")
    es.put_template("tpl", [pattern], priority=500, template={
        "settings": {"number_of_replicas": 0},
        "mappings": {"properties": {"@timestamp": {"type": "date_nanos"}, "sensor_id": {"type": "keyword"},
                                    "value": {"type": "double"}}},
        "aliases": {es.name("telemetry"): {}}})
    got = es.client.indices.get_index_template(name=es.name("tpl"))["index_templates"][0]
    assert got["name"] == es.name("tpl")
    assert got["index_template"]["index_patterns"] == [pattern]
    assert got["index_template"]["priority"] == 500
    assert es.client.indices.exists_index_template(name=es.name("tpl"))

    monthly = es.name("telemetry-2024.01")
    es.put(monthly, {"1": {"@timestamp": "2024-01-01T00:00:00.123456789Z", "sensor_id": "4", "value": "12.5"}})
    mapping = es.client.indices.get_mapping(index=monthly)[monthly]["mappings"]["properties"]
    assert mapping["@timestamp"]["type"] == "date_nanos"
    assert mapping["value"]["type"] == "double"
    aliases = es.client.indices.get_alias(index=monthly)[monthly]["aliases"]
    assert es.name("telemetry") in aliases
    assert es.client.count(index=es.name("telemetry"))["count"] == 1


def test_request_body_overrides_template(es):
    es.put_template("tpl", [es.name("x-*")], priority=501,
                    template={"mappings": {"properties": {"v": {"type": "long"}, "k": {"type": "keyword"}}}})
    name = es.name("x-1")
    es.client.indices.create(index=name, mappings={"properties": {"v": {"type": "double"}}})
    props = es.client.indices.get_mapping(index=name)[name]["mappings"]["properties"]
    assert props["v"]["type"] == "double" and props["k"]["type"] == "keyword"


def test_highest_priority_template_wins(es):
    es.put_template("low", [es.name("p-*")], priority=510,
                    template={"mappings": {"properties": {"v": {"type": "long"}}}})
    es.put_template("high", [es.name("p-special-*")], priority=520,
                    template={"mappings": {"properties": {"v": {"type": "keyword"}}}})
    es.put(es.name("p-special-1"), {"1": {"v": "7"}})
    es.put(es.name("p-plain-1"), {"1": {"v": "7"}})
    assert es.client.indices.get_mapping(index=es.name("p-special-1"))[es.name("p-special-1")]["mappings"][
        "properties"]["v"]["type"] == "keyword"
    assert es.client.indices.get_mapping(index=es.name("p-plain-1"))[es.name("p-plain-1")]["mappings"][
        "properties"]["v"]["type"] == "long"


def test_overlapping_templates_with_equal_priority_are_refused(es):
    es.put_template("one", [es.name("o-*")], priority=530)
    with pytest.raises(BadRequestError):
        es.client.indices.put_index_template(name=es.name("two"), index_patterns=[es.name("o-*")], priority=530)


def test_delete_template(es):
    es.put_template("gone", [es.name("g-*")], priority=540)
    es.client.indices.delete_index_template(name=es.name("gone"))
    assert not es.client.indices.exists_index_template(name=es.name("gone"))
    with pytest.raises(NotFoundError):
        es.client.indices.get_index_template(name=es.name("gone"))


def test_search_through_an_alias_and_list_its_indices(es):
    alias = es.name("all")
    a, b = (es.create(suffix, aliases={alias: {}}) for suffix in ("a", "b"))
    es.put(a, {"1": {"l": 1}})
    es.put(b, {"2": {"l": 2}})
    assert es.client.count(index=alias)["count"] == 2
    got = es.client.indices.get_alias(index=alias)
    assert got == {a: {"aliases": {alias: {}}}, b: {"aliases": {alias: {}}}}
    with pytest.raises(NotFoundError):
        es.client.indices.get_alias(index=es.name("nope"))


def test_writes_through_an_alias_need_a_single_index_behind_it(es):
    alias = es.name("writer")
    first = es.create("w1", aliases={alias: {}})
    resp = es.put(alias, {"1": {"l": 1}})
    assert resp["items"][0]["index"]["_index"] == first
    assert es.client.get(index=first, id="1")["found"]
    es.create("w2", aliases={alias: {}})
    resp = es.client.bulk(operations=[{"index": {"_index": alias, "_id": "2"}}, {"l": 2}])
    assert resp["items"][0]["index"]["status"] == 400
    assert "no write index is defined for alias" in resp["items"][0]["index"]["error"]["reason"]


def test_wildcard_and_comma_list_targets(es):
    for suffix in ("m-1", "m-2", "n-1"):
        es.put(es.create(suffix), {"1": {"l": 1}})
    assert es.client.count(index=es.name("m-*"))["count"] == 2
    assert es.client.count(index=f"{es.name('m-1')},{es.name('n-1')}")["count"] == 2
    assert es.client.count(index=es.name("zzz-*"))["count"] == 0
    with pytest.raises(NotFoundError):
        es.client.count(index=f"{es.name('m-1')},{es.name('missing')}")
    assert es.client.count(index=f"{es.name('m-1')},{es.name('missing')}", ignore_unavailable=True)["count"] == 1
    with pytest.raises(NotFoundError):
        es.client.search(index=es.name("zzz-*"), allow_no_indices=False)


def test_refresh_is_accepted(es):
    es.put(es.create(), {"1": {"l": 1}})
    assert es.client.indices.refresh(index=es.name())["_shards"]["failed"] == 0


def test_the_shard_limit_refuses_new_indices_until_raised(private_standin):
    """``cluster.max_shards_per_node`` counts primaries and replicas (one node here, so the cluster's limit)."""
    es = Elasticsearch(private_standin(None).url)
    es.indices.create(index="first", settings={"number_of_shards": 1, "number_of_replicas": 1})
    reply = es.cluster.put_settings(persistent={"cluster.max_shards_per_node": 3})
    assert reply["persistent"] == {"cluster": {"max_shards_per_node": "3"}}
    with pytest.raises(BadRequestError) as info:
        es.indices.create(index="second")  # ES's defaults: 1 shard, 1 replica
    assert info.value.error == "validation_exception" and "[2]/[3]" in str(info.value)
    resp = es.bulk(operations=[{"index": {"_index": "auto", "_id": "1"}}, {}])  # auto-creation is refused alike
    assert resp["items"][0]["index"]["error"]["type"] == "validation_exception"
    es.indices.create(index="small", settings={"number_of_replicas": 0})
    es.cluster.put_settings(persistent={"cluster.max_shards_per_node": None})
    es.indices.create(index="second")
    es.close()
