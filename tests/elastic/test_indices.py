"""Indices, mappings, index templates and aliases through the official client."""

from __future__ import annotations

import pytest
from elasticsearch import BadRequestError, NotFoundError


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


def test_put_mapping_adds_fields_and_refuses_type_changes(es):
    name = es.name()
    es.client.indices.create(index=name, mappings={"properties": {"a": {"type": "keyword"}}})
    es.client.indices.put_mapping(index=name, properties={"b": {"type": "long"}})
    props = es.client.indices.get_mapping(index=name)[name]["mappings"]["properties"]
    assert props["a"]["type"] == "keyword" and props["b"]["type"] == "long"
    with pytest.raises(BadRequestError):
        es.client.indices.put_mapping(index=name, properties={"a": {"type": "long"}})


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
    es.client.index(index=monthly, id="1", document={"@timestamp": "2024-01-01T00:00:00.123456789Z",
                                                     "sensor_id": "4", "value": "12.5"})
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
    es.client.index(index=es.name("p-special-1"), document={"v": "7"})
    es.client.index(index=es.name("p-plain-1"), document={"v": "7"})
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


def test_aliases_add_remove_and_search_through_them(es):
    a, b, alias = es.name("a"), es.name("b"), es.name("all")
    es.client.index(index=a, id="1", document={"n": 1})
    es.client.index(index=b, id="2", document={"n": 2})
    es.client.indices.update_aliases(actions=[{"add": {"index": a, "alias": alias}},
                                              {"add": {"index": b, "alias": alias}}])
    assert es.client.count(index=alias)["count"] == 2
    got = es.client.indices.get_alias(name=alias)
    assert set(got) == {a, b}
    es.client.indices.update_aliases(actions=[{"remove": {"index": a, "alias": alias}}])
    assert es.client.count(index=alias)["count"] == 1
    assert not es.client.indices.exists_alias(name=es.name("nope"))
    with pytest.raises(NotFoundError):
        es.client.indices.get_alias(name=es.name("nope"))


def test_write_through_single_index_alias(es):
    idx, alias = es.name("w1"), es.name("writer")
    es.client.indices.create(index=idx, aliases={alias: {"is_write_index": True}})
    resp = es.client.index(index=alias, id="1", document={"n": 1})
    assert resp["_index"] == idx
    assert es.client.get(index=idx, id="1")["found"]


def test_wildcard_and_comma_list_targets(es):
    for suffix in ("m-1", "m-2", "n-1"):
        es.client.index(index=es.name(suffix), document={"n": 1})
    assert es.client.count(index=es.name("m-*"))["count"] == 2
    assert es.client.count(index=f"{es.name('m-1')},{es.name('n-1')}")["count"] == 2
    assert es.client.count(index=es.name("zzz-*"))["count"] == 0
    with pytest.raises(NotFoundError):
        es.client.count(index=f"{es.name('m-1')},{es.name('missing')}")
    assert es.client.count(index=f"{es.name('m-1')},{es.name('missing')}", ignore_unavailable=True)["count"] == 1
    with pytest.raises(NotFoundError):
        es.client.search(index=es.name("zzz-*"), allow_no_indices=False)


def test_refresh_is_accepted(es):
    es.client.index(index=es.name(), document={"n": 1})
    assert es.client.indices.refresh(index=es.name())["_shards"]["failed"] == 0
