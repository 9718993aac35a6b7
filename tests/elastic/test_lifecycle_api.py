"""What data lifecycle sends: index deletes by name and pattern, asynchronous delete-by-query with its task, and
points in time with ``search_after``, through the official client (against the stand-in or a real cluster)."""

from __future__ import annotations

import time

import pytest
from elasticsearch import ApiError, BadRequestError, NotFoundError

SERIES = {"dynamic": "strict", "properties": {"@timestamp": {"type": "date_nanos"}, "sensor_id": {"type": "keyword"},
                                              "v": {"type": "long"}}}


def _months(es, count: int = 3, per_month: int = 4) -> list[str]:
    names = []
    for month in range(1, count + 1):
        name = es.create(f"m-2024.{month:02d}", mappings=SERIES)
        es.put(name, {f"s{i % 2}:{month}:{i}": {"@timestamp": f"2024-{month:02d}-0{1 + i // 2}T00:00:00Z",
                                                 "sensor_id": f"s{i % 2}", "v": month * 10 + i}
                      for i in range(per_month)})
        names.append(name)
    es.client.indices.refresh(index=",".join(names))
    return names


def test_index_deletes_by_wildcard_are_refused_unless_the_cluster_allows_them(es):
    names = _months(es, 2, 1)
    with pytest.raises(BadRequestError) as info:
        es.client.indices.delete(index=es.name("m-*"))
    assert "Wildcard expressions or all indices are not allowed" in str(info.value)
    assert all(es.client.indices.exists(index=name) for name in names)
    es.client.cluster.put_settings(persistent={"action.destructive_requires_name": False})
    try:
        assert es.client.indices.delete(index=es.name("m-2024.0*"))["acknowledged"] is True
    finally:
        es.client.cluster.put_settings(persistent={"action.destructive_requires_name": None})
    assert not any(es.client.indices.exists(index=name) for name in names)
    with pytest.raises(BadRequestError):  # back to the default
        es.client.indices.delete(index=es.name("*"))


def test_index_deletes_by_name_list(es):
    names = _months(es, 3, 1)
    assert es.client.indices.delete(index=",".join(names[:2]))["acknowledged"] is True
    assert [es.client.indices.exists(index=name).body for name in names] == [False, False, True]
    with pytest.raises(NotFoundError):
        es.client.indices.delete(index=names[0])
    es.client.indices.delete(index=names[0], ignore_unavailable=True)


def test_delete_by_query_as_a_task(es):
    names = _months(es)
    target = ",".join(names)
    reply = es.client.delete_by_query(index=target, query={"bool": {"filter": [
        {"terms": {"sensor_id": ["s0"]}}, {"range": {"@timestamp": {"lt": "2024-03-01T00:00:00Z"}}}]}},
        conflicts="proceed", refresh=True, wait_for_completion=False)
    task_id = reply["task"]
    deadline = time.monotonic() + 30
    while not (status := es.client.tasks.get(task_id=task_id))["completed"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["task"]["action"] == "indices:data/write/delete/byquery"
    assert status["response"]["deleted"] == 4 and status["response"]["failures"] == []
    left = es.client.search(index=target, size=20, sort=["v"])["hits"]["hits"]
    assert [hit["_source"]["v"] for hit in left] == [11, 13, 21, 23, 30, 31, 32, 33]


def test_delete_by_query_refuses_a_bad_request_before_starting(es):
    names = _months(es, 1, 1)
    with pytest.raises(BadRequestError):
        es.client.delete_by_query(index=names[0], query={"range": {"@timestamp": {"lt": "not a date"}}},
                                  wait_for_completion=False)
    with pytest.raises(BadRequestError):
        es.client.delete_by_query(index=names[0], query={"term": {"v": 1}}, conflicts="ignore")


def test_an_unknown_task_is_not_found(es):
    with pytest.raises(NotFoundError):
        es.client.tasks.get(task_id="standin:987654321" if "standin" in str(es.client.info()) else "abc:987654321")


def test_export_pages_through_a_point_in_time(es):
    names = _months(es, 3, 4)
    pit = es.client.open_point_in_time(index=",".join(names), keep_alive="1m")["id"]
    seen, after, pages = [], None, 0
    while True:
        reply = es.client.search(pit={"id": pit, "keep_alive": "1m"}, size=5, sort=[{"@timestamp": "asc"}],
                                 query={"range": {"@timestamp": {"gte": "2024-01-01T00:00:00Z"}}},
                                 search_after=after)
        hits = reply["hits"]["hits"]
        pit = reply["pit_id"]
        if not hits:
            break
        pages += 1
        assert all(len(hit["sort"]) == 2 for hit in hits)  # the implicit _shard_doc tiebreaker
        seen.extend(hit["_source"]["v"] for hit in hits)
        after = hits[-1]["sort"]
    assert seen == [10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33] and pages == 3
    assert es.client.close_point_in_time(id=pit)["succeeded"] is True
    with pytest.raises(ApiError) as info:
        es.client.search(pit={"id": pit}, size=1, sort=["@timestamp"])
    assert info.value.status_code == 404


def test_a_point_in_time_search_names_no_index(es):
    names = _months(es, 1, 1)
    pit = es.client.open_point_in_time(index=names[0], keep_alive="30s")["id"]
    try:
        with pytest.raises(BadRequestError):
            es.client.search(index=names[0], pit={"id": pit}, size=1)
    finally:
        es.client.close_point_in_time(id=pit)
