"""Document writes and reads: bulk index actions with per-item results and errors, coercion, get by id."""

from __future__ import annotations

import threading

import pytest
from elasticsearch import NotFoundError, helpers

PARSE_ERRORS = {"document_parsing_exception", "mapper_parsing_exception"}  # ES ≥ 8.8 says the former


@pytest.fixture
def typed(es):
    """An index with one field of each supported type (``TYPED``), strict."""
    return es.create()


def test_bulk_index_creates_then_replaces_by_id(es, typed):
    resp = es.client.bulk(operations=[{"index": {"_index": typed, "_id": "a"}}, {"k": "one"},
                                      {"index": {"_index": typed, "_id": "b"}}, {"k": "two"}], refresh="wait_for")
    assert resp["errors"] is False
    first = [item["index"] for item in resp["items"]]
    assert [(i["_id"], i["status"], i["result"], i["_version"]) for i in first] == [("a", 201, "created", 1),
                                                                                   ("b", 201, "created", 1)]
    assert all(i["_index"] == typed for i in first)
    again = es.client.bulk(operations=[{"index": {"_index": typed, "_id": "a"}}, {"k": "uno"}])["items"][0]["index"]
    assert (again["status"], again["result"], again["_version"]) == (200, "updated", 2)
    assert again["_seq_no"] > first[1]["_seq_no"]
    assert es.client.get(index=typed, id="a")["_source"] == {"k": "uno"}
    assert es.client.count(index=typed)["count"] == 2


def test_bulk_per_item_parse_errors_leave_other_items_applied(es, typed):
    resp = es.client.bulk(operations=[
        {"index": {"_index": typed, "_id": "ok"}}, {"l": "42", "d": "1.5", "b": "true", "ns": 1700000000000},
        {"index": {"_index": typed, "_id": "bad-long"}}, {"l": "abc"},
        {"index": {"_index": typed, "_id": "bad-bool"}}, {"b": "yes"},
        {"index": {"_index": typed, "_id": "bad-date"}}, {"ns": "not a date"},
        {"index": {"_index": typed, "_id": "too-big"}}, {"l": 2**64},
        {"index": {"_index": typed, "_id": "before-1970"}}, {"ns": "1969-12-31T23:59:59Z"},
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
    assert doc == {"l": "42", "d": "1.5", "b": "true", "ns": 1700000000000}  # _source is kept as sent


def test_numeric_strings_coerce_and_are_searchable(es, typed):
    es.put(typed, {"1": {"l": "7", "d": "2.5"}, "2": {"l": 8.9, "d": 3}, "3": {"k": 12, "b": False}})
    assert es.client.count(index=typed, query={"term": {"l": 7}})["count"] == 1
    assert es.client.count(index=typed, query={"term": {"l": 8}})["count"] == 1  # 8.9 truncated like ES
    assert es.client.count(index=typed, query={"term": {"l": 8.5}})["count"] == 0
    assert es.client.count(index=typed, query={"range": {"d": {"gte": 2.5, "lte": 3}}})["count"] == 2
    assert es.client.count(index=typed, query={"term": {"l": "7"}})["count"] == 1
    assert es.client.count(index=typed, query={"term": {"k": "12"}})["count"] == 1  # a number in a keyword: text
    assert es.client.count(index=typed, query={"term": {"b": "false"}})["count"] == 1


def test_null_values_are_missing_values(es, typed):
    es.put(typed, {"1": {"k": None, "l": 1}})
    assert es.client.count(index=typed, query={"exists": {"field": "k"}})["count"] == 0
    assert es.client.count(index=typed, query={"exists": {"field": "l"}})["count"] == 1


def test_bulk_with_index_in_url_and_helpers_bulk(es, typed):
    resp = es.client.bulk(index=typed, operations=[{"index": {"_id": "1"}}, {"l": 1}])
    assert resp["items"][0]["index"]["_index"] == typed
    ok, errors = helpers.bulk(es.client, ({"_index": typed, "_id": str(i), "_source": {"l": i}} for i in range(250)),
                              chunk_size=100)
    assert ok == 250 and errors == []
    assert es.client.count(index=typed)["count"] == 250


def test_helpers_bulk_reports_item_errors(es, typed):
    with pytest.raises(helpers.BulkIndexError) as info:
        helpers.bulk(es.client, [{"_index": typed, "_id": "x", "_source": {"l": "nope"}},
                                 {"_index": typed, "_id": "y", "_source": {"l": 1}}])
    assert len(info.value.errors) == 1
    assert info.value.errors[0]["index"]["_id"] == "x"
    assert es.client.get(index=typed, id="y")["found"]


def test_get_by_id(es, typed):
    es.put(typed, {"1": {"k": "a"}})
    es.put(typed, {"1": {"k": "b"}})
    got = es.client.get(index=typed, id="1")
    assert got["found"] is True and got["_source"] == {"k": "b"} and got["_version"] == 2
    with pytest.raises(NotFoundError) as info:
        es.client.get(index=typed, id="404")
    assert info.value.body["found"] is False and info.value.body["_id"] == "404"


def test_documents_are_visible_without_refresh(es, typed):
    es.put(typed, {"1": {"k": "now"}})
    assert es.client.search(index=typed, query={"term": {"k": "now"}})["hits"]["total"]["value"] == 1


def test_strict_mapping_refuses_new_fields(es, typed):
    resp = es.client.bulk(operations=[{"index": {"_index": typed, "_id": "1"}}, {"l": 1, "unmapped": 2}])
    item = resp["items"][0]["index"]
    assert item["status"] == 400 and item["error"]["type"] == "strict_dynamic_mapping_exception"
    assert "[unmapped]" in item["error"]["reason"]
    assert es.client.count(index=typed)["count"] == 0


def test_delete_by_query(es, typed):
    es.put(typed, {str(i): {"l": i} for i in range(10)})
    resp = es.client.delete_by_query(index=typed, query={"range": {"l": {"lt": 4}}}, refresh=True)
    assert resp["deleted"] == 4
    assert es.client.count(index=typed)["count"] == 6
    assert es.client.count(index=typed, query={"range": {"l": {"lt": 4}}})["count"] == 0


def test_concurrent_writers_and_readers(es):
    name = es.create(mappings={"properties": {"w": {"type": "keyword"}, "i": {"type": "long"}}})
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
