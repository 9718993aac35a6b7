"""Document writes and reads: bulk with per-item results and errors, the single-document API, coercion."""

from __future__ import annotations

import threading

import pytest
from elasticsearch import ConflictError, NotFoundError, helpers

PARSE_ERRORS = {"document_parsing_exception", "mapper_parsing_exception"}  # ES ≥ 8.8 says the former


@pytest.fixture
def typed(es):
    """An index with one field of each supported type."""
    name = es.name()
    es.client.indices.create(index=name, mappings={"properties": {
        "k": {"type": "keyword"}, "t": {"type": "text"}, "l": {"type": "long"}, "i": {"type": "integer"},
        "d": {"type": "double"}, "f": {"type": "float"}, "b": {"type": "boolean"}, "ts": {"type": "date"},
        "ns": {"type": "date_nanos"}, "o": {"properties": {"x": {"type": "keyword"}}}}})
    return name


def test_bulk_index_and_create_with_and_without_ids(es, typed):
    resp = es.client.bulk(operations=[
        {"index": {"_index": typed, "_id": "a"}}, {"k": "one"},
        {"create": {"_index": typed, "_id": "b"}}, {"k": "two"},
        {"index": {"_index": typed}}, {"k": "three"},
        {"create": {"_index": typed}}, {"k": "four"},
    ], refresh="wait_for")
    assert resp["errors"] is False
    kinds = [next(iter(item)) for item in resp["items"]]
    assert kinds == ["index", "create", "index", "create"]
    bodies = [item[k] for item, k in zip(resp["items"], kinds)]
    assert [b["status"] for b in bodies] == [201] * 4
    assert [b["result"] for b in bodies] == ["created"] * 4
    assert bodies[0]["_id"] == "a" and bodies[1]["_id"] == "b"
    assert len(bodies[2]["_id"]) == 20 and bodies[2]["_id"] != bodies[3]["_id"]
    assert all(b["_index"] == typed and b["_version"] == 1 for b in bodies)
    assert es.client.count(index=typed)["count"] == 4


def test_bulk_index_again_updates_and_create_again_conflicts(es, typed):
    es.client.bulk(operations=[{"index": {"_index": typed, "_id": "1"}}, {"k": "v1"}])
    resp = es.client.bulk(operations=[
        {"index": {"_index": typed, "_id": "1"}}, {"k": "v2"},
        {"create": {"_index": typed, "_id": "1"}}, {"k": "v3"},
    ])
    assert resp["errors"] is True
    updated, conflict = resp["items"][0]["index"], resp["items"][1]["create"]
    assert updated["status"] == 200 and updated["result"] == "updated" and updated["_version"] == 2
    assert conflict["status"] == 409
    assert conflict["error"]["type"] == "version_conflict_engine_exception"
    assert "document already exists" in conflict["error"]["reason"]
    assert es.client.get(index=typed, id="1")["_source"] == {"k": "v2"}


def test_bulk_per_item_parse_errors_leave_other_items_applied(es, typed):
    resp = es.client.bulk(operations=[
        {"index": {"_index": typed, "_id": "ok"}}, {"l": "42", "d": "1.5", "b": "true", "ts": 1700000000000},
        {"index": {"_index": typed, "_id": "bad-long"}}, {"l": "abc"},
        {"index": {"_index": typed, "_id": "bad-bool"}}, {"b": "yes"},
        {"index": {"_index": typed, "_id": "bad-date"}}, {"ts": "not a date"},
        {"index": {"_index": typed, "_id": "bad-int"}}, {"i": 2**40},
        {"index": {"_index": typed, "_id": "obj-in-keyword"}}, {"k": {"nested": 1}},
    ])
    assert resp["errors"] is True
    items = [item["index"] for item in resp["items"]]
    assert items[0]["status"] == 201
    for item in items[1:]:
        assert item["status"] == 400, item
        assert item["error"]["type"] in PARSE_ERRORS, item
    assert "[l]" in items[1]["error"]["reason"]
    assert es.client.count(index=typed)["count"] == 1
    doc = es.client.get(index=typed, id="ok")["_source"]
    assert doc == {"l": "42", "d": "1.5", "b": "true", "ts": 1700000000000}  # _source is kept as sent


def test_numeric_strings_coerce_and_are_searchable(es, typed):
    es.client.bulk(operations=[{"index": {"_index": typed, "_id": "1"}}, {"l": "7", "d": "2.5", "f": 0.1},
                               {"index": {"_index": typed, "_id": "2"}}, {"l": 8.9, "d": 3}], refresh=True)
    assert es.client.count(index=typed, query={"term": {"l": 7}})["count"] == 1
    assert es.client.count(index=typed, query={"term": {"l": 8}})["count"] == 1  # 8.9 truncated like ES
    assert es.client.count(index=typed, query={"range": {"d": {"gte": 2.5, "lte": 3}}})["count"] == 2
    assert es.client.count(index=typed, query={"term": {"l": "7"}})["count"] == 1


def test_bulk_delete_action(es, typed):
    es.client.bulk(operations=[{"index": {"_index": typed, "_id": "1"}}, {"k": "a"}])
    resp = es.client.bulk(operations=[{"delete": {"_index": typed, "_id": "1"}},
                                      {"delete": {"_index": typed, "_id": "never"}}])
    deleted, missing = resp["items"][0]["delete"], resp["items"][1]["delete"]
    assert deleted["status"] == 200 and deleted["result"] == "deleted"
    assert missing["status"] == 404 and missing["result"] == "not_found"
    assert es.client.count(index=typed)["count"] == 0


def test_bulk_with_index_in_url_and_helpers_bulk(es):
    name = es.name()
    resp = es.client.bulk(index=name, operations=[{"index": {"_id": "1"}}, {"n": 1}])
    assert resp["items"][0]["index"]["_index"] == name
    ok, errors = helpers.bulk(es.client, ({"_index": name, "_id": str(i), "_source": {"n": i}} for i in range(250)),
                              chunk_size=100)
    assert ok == 250 and errors == []
    assert es.client.count(index=name)["count"] == 250


def test_helpers_bulk_reports_item_errors(es, typed):
    with pytest.raises(helpers.BulkIndexError) as info:
        helpers.bulk(es.client, [{"_index": typed, "_id": "x", "_source": {"l": "nope"}},
                                 {"_index": typed, "_id": "y", "_source": {"l": 1}}])
    assert len(info.value.errors) == 1
    assert info.value.errors[0]["index"]["_id"] == "x"
    assert es.client.get(index=typed, id="y")["found"]


def test_single_document_api(es, typed):
    created = es.client.index(index=typed, id="1", document={"k": "a"})
    assert created["result"] == "created" and created["_version"] == 1
    updated = es.client.index(index=typed, id="1", document={"k": "b"})
    assert updated["result"] == "updated" and updated["_version"] == 2
    auto = es.client.index(index=typed, document={"k": "c"})
    assert auto["result"] == "created" and len(auto["_id"]) == 20
    got = es.client.get(index=typed, id="1")
    assert got["found"] is True and got["_source"] == {"k": "b"} and got["_version"] == 2
    assert es.client.exists(index=typed, id="1")
    assert not es.client.exists(index=typed, id="404")
    with pytest.raises(NotFoundError) as info:
        es.client.get(index=typed, id="404")
    assert info.value.body["found"] is False and info.value.body["_id"] == "404"
    assert es.client.delete(index=typed, id="1")["result"] == "deleted"
    with pytest.raises(NotFoundError):
        es.client.delete(index=typed, id="1")


def test_create_api_conflicts_on_existing_id(es, typed):
    es.client.create(index=typed, id="1", document={"k": "a"})
    with pytest.raises(ConflictError) as info:
        es.client.create(index=typed, id="1", document={"k": "b"})
    assert info.value.error == "version_conflict_engine_exception"
    with pytest.raises(ConflictError):
        es.client.index(index=typed, id="1", document={"k": "b"}, op_type="create")


def test_optimistic_concurrency_with_seq_no(es, typed):
    first = es.client.index(index=typed, id="1", document={"k": "a"})
    es.client.index(index=typed, id="1", document={"k": "b"}, if_seq_no=first["_seq_no"],
                    if_primary_term=first["_primary_term"])
    with pytest.raises(ConflictError):
        es.client.index(index=typed, id="1", document={"k": "c"}, if_seq_no=first["_seq_no"],
                        if_primary_term=first["_primary_term"])


def test_documents_are_visible_without_refresh(es, typed):
    es.client.index(index=typed, id="1", document={"k": "now"}, refresh="wait_for")
    assert es.client.search(index=typed, query={"term": {"k": "now"}})["hits"]["total"]["value"] == 1


def test_get_with_source_filtering(es, typed):
    es.client.index(index=typed, id="1", document={"k": "a", "l": 1, "o": {"x": "y"}})
    assert es.client.get(index=typed, id="1", source_includes="o.*")["_source"] == {"o": {"x": "y"}}
    assert "_source" not in es.client.get(index=typed, id="1", source=False)


def test_dynamic_mapping(es):
    name = es.name()
    es.client.index(index=name, id="1", document={"n": 5, "x": 1.5, "flag": True, "when": "2024-03-01T10:00:00Z",
                                                  "obj": {"inner": 3}})
    props = es.client.indices.get_mapping(index=name)[name]["mappings"]["properties"]
    assert props["n"]["type"] == "long"
    assert props["x"]["type"] == "float"
    assert props["flag"]["type"] == "boolean"
    assert props["when"]["type"] == "date"
    assert props["obj"]["properties"]["inner"]["type"] == "long"
    resp = es.client.bulk(operations=[{"index": {"_index": name, "_id": "2"}}, {"n": "not a number"}])
    assert resp["errors"] and resp["items"][0]["index"]["status"] == 400


def test_strict_mapping_refuses_new_fields(es):
    name = es.name()
    es.client.indices.create(index=name, mappings={"dynamic": "strict", "properties": {"a": {"type": "long"}}})
    resp = es.client.bulk(operations=[{"index": {"_index": name}}, {"a": 1, "b": 2}])
    item = resp["items"][0]["index"]
    assert item["status"] == 400 and item["error"]["type"] == "strict_dynamic_mapping_exception"


def test_delete_action_on_missing_index_is_item_404(es):
    resp = es.client.bulk(operations=[{"delete": {"_index": es.name("missing"), "_id": "1"}}])
    assert resp["errors"] is True
    assert resp["items"][0]["delete"]["status"] == 404
    assert not es.client.indices.exists(index=es.name("missing"))


def test_delete_by_query(es, typed):
    es.client.bulk(operations=[x for i in range(10) for x in ({"index": {"_index": typed, "_id": str(i)}},
                                                              {"l": i})], refresh=True)
    resp = es.client.delete_by_query(index=typed, query={"range": {"l": {"lt": 4}}}, refresh=True)
    assert resp["deleted"] == 4
    assert es.client.count(index=typed)["count"] == 6


def test_concurrent_writers_and_readers(es):
    name = es.name()
    es.client.indices.create(index=name, mappings={"properties": {"w": {"type": "keyword"}, "i": {"type": "long"}}})
    failures = []

    def writer(w: int) -> None:
        try:
            for batch in range(10):
                ops = [x for i in range(50) for x in ({"index": {"_index": name, "_id": f"{w}-{batch}-{i}"}},
                                                      {"w": str(w), "i": i})]
                if es.client.bulk(operations=ops)["errors"]:
                    failures.append(f"writer {w} batch {batch}")
        except Exception as exc:  # collected and asserted below
            failures.append(repr(exc))

    def reader() -> None:
        try:
            for _ in range(30):
                es.client.search(index=name, query={"term": {"w": "1"}}, sort=["i"], size=5)
        except Exception as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert es.client.count(index=name)["count"] == 4 * 10 * 50
    assert es.client.count(index=name, query={"term": {"w": "2"}})["count"] == 500
