"""Template, alias and bulk indexing against Elasticsearch (the stand-in, or a real cluster) via the official client."""

import pytest
from elasticsearch import Elasticsearch

from infra.adapters.elasticsearch import ALIAS, TEMPLATE_NAME, Document, bulk_index, install_template, read_points
from infra.domain.errors import StoreUnavailableError
from tests.store.helpers import reading, store


def test_the_template_is_installed_once_and_then_left_alone(store_es):
    store_es.indices.delete_index_template(name=TEMPLATE_NAME)
    assert install_template(store_es) is True
    assert install_template(store_es) is False
    [found] = store_es.indices.get_index_template(name=TEMPLATE_NAME)["index_templates"]
    assert found["index_template"]["index_patterns"] == ["telemetry-*"]
    assert ALIAS in found["index_template"]["template"]["aliases"]


def test_a_changed_replica_count_replaces_the_template(store_es):
    try:
        assert install_template(store_es, replicas=0) is True
        [found] = store_es.indices.get_index_template(name=TEMPLATE_NAME)["index_templates"]
        assert str(found["index_template"]["template"]["settings"]["index"]["number_of_replicas"]) == "0"
        assert install_template(store_es, replicas=0) is False
    finally:
        assert install_template(store_es) is True  # back to the default for the other tests


def test_monthly_indices_are_created_from_the_template_behind_the_alias(store_es, sensor):
    store(store_es, [reading(sensor, "double", "2019-01-31T23:59:59.999999999Z", 1.0),
                     reading(sensor, "double", "2019-02-01T00:00:00Z", 2.0)])
    aliases = store_es.indices.get_alias(index="telemetry-2019.01,telemetry-2019.02")
    assert {name: set(entry["aliases"]) for name, entry in aliases.items()} == {
        "telemetry-2019.01": {ALIAS}, "telemetry-2019.02": {ALIAS}}
    mapping = store_es.indices.get_mapping(index="telemetry-2019.02")["telemetry-2019.02"]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["@timestamp"]["type"] == "date_nanos"
    assert mapping["properties"]["value_long"]["type"] == "long"


def test_each_type_is_stored_in_its_typed_field(store_es, sensor):
    docs = [reading(f"{sensor}-{t}", t, "2026-11-28T03:21:06.123456789Z", v)
            for t, v in (("double", 21.5), ("long", 9007199254740993), ("boolean", False), ("keyword", "open"))]
    store(store_es, docs)
    for doc in docs:
        source = store_es.get(index=doc.index, id=doc.id)["_source"]
        values = {k: v for k, v in source.items() if k.startswith("value_")}
        assert values == {k: v for k, v in doc.source.items() if k.startswith("value_")}
    assert store_es.get(index=docs[1].index, id=docs[1].id)["_source"]["value_long"] == 9007199254740993


def test_indexing_the_same_readings_again_creates_no_duplicate(store_es, sensor):
    docs = [reading(sensor, "double", f"2026-11-28T03:21:{i:02d}.000000001Z", float(i)) for i in range(5)]
    store(store_es, docs)
    store(store_es, docs)
    store_es.indices.refresh(index=ALIAS)
    assert store_es.count(index=ALIAS, query={"term": {"sensor_id": sensor}})["count"] == 5


def test_a_redelivered_reading_with_a_new_value_overwrites_the_old_one(store_es, sensor):
    store(store_es, [reading(sensor, "long", "2026-11-28T03:21:00Z", 1)])
    store(store_es, [reading(sensor, "long", "2026-11-28T03:21:00Z", 2)])
    store_es.indices.refresh(index=ALIAS)
    points, _ = read_points(store_es, sensor, "long")
    assert points == [{"timestamp": "2026-11-28T03:21:00.000000000Z", "value": 2}]


def test_items_refused_with_429_are_retried_within_the_call(store_es, sensor, faults):
    docs = [reading(sensor, "double", f"2026-11-28T04:00:{i:02d}Z", float(i)) for i in range(10)]
    faults({"bulk_item_429": 6})  # the first try loses 6 of 10 items
    report = bulk_index(store_es, docs, sleep=lambda seconds: None)
    assert (report.indexed, report.failed, report.retryable) == (10, [], [])
    store_es.indices.refresh(index=ALIAS)
    assert store_es.count(index=ALIAS, query={"term": {"sensor_id": sensor}})["count"] == 10


def test_items_still_refused_after_every_try_are_reported_as_retryable(store_es, sensor, faults):
    doc = reading(sensor, "double", "2026-11-28T04:00:00Z", 1.0)
    faults({"bulk_item_429": 4})  # one item, refused on each of its 4 tries
    report = bulk_index(store_es, [doc], attempts=4, sleep=lambda seconds: None)
    assert report.indexed == 0 and report.failed == [] and not report.complete
    [left] = report.retryable
    assert (left.document.id, left.status) == (doc.id, 429)
    assert "es_rejected_execution_exception" in left.reason


def test_items_refused_by_the_mapping_are_permanent_and_the_others_indexed(store_es, sensor):
    good = reading(sensor, "double", "2026-11-28T05:00:00Z", 1.0)
    wrong_value = Document(good.index, f"{sensor}:1", {**good.source, "value_double": "not a number"})
    unknown_field = Document(good.index, f"{sensor}:2", {**good.source, "colour": "red"})
    report = bulk_index(store_es, [wrong_value, good, unknown_field])
    assert report.indexed == 1 and report.retryable == []
    assert [(f.document.id, f.status) for f in report.failed] == [(wrong_value.id, 400), (unknown_field.id, 400)]
    assert "colour" in report.failed[1].reason


def test_large_batches_are_split_into_several_requests(store_es, sensor):
    docs = [reading(sensor, "long", 1_764_300_000_000_000_000 + i, i) for i in range(25)]
    report = bulk_index(store_es, docs, chunk=10)
    assert report.indexed == 25 and report.complete
    store_es.indices.refresh(index=ALIAS)
    assert store_es.count(index=ALIAS, query={"term": {"sensor_id": sensor}})["count"] == 25


def test_a_cluster_refusing_whole_requests_raises_store_unavailable(store_url, sensor, faults):
    impatient = Elasticsearch(store_url, max_retries=0)
    faults({"reject_requests_503": 10})
    with pytest.raises(StoreUnavailableError) as caught:
        bulk_index(impatient, [reading(sensor, "double", "2026-11-28T05:00:00Z", 1.0)])
    assert caught.value.status == 503
