"""The document of a reading, its index and id (no I/O)."""

import pytest

from infra.adapters.elasticsearch import (ALIAS, InvalidRecordError, VALUE_FIELDS, build_document, document_id, index_for,
                              index_template)
from tests.store.helpers import reading

NS = 1_000_000_000


def test_a_reading_goes_to_the_utc_month_of_its_timestamp():
    # 2026-11-30T23:59:59.999999999Z and one nanosecond later
    last_of_november = 1_796_083_199 * NS + 999_999_999
    assert index_for(last_of_november) == "telemetry-2026.11"
    assert index_for(last_of_november + 1) == "telemetry-2026.12"
    assert index_for(0) == "telemetry-1970.01"


def test_the_id_is_the_sensor_and_the_timestamp_in_nanoseconds():
    assert document_id("s1", 1_526_717_967_123_456_789) == "s1:1526717967123456789"
    doc = reading("s1", "double", "2018-05-19T08:19:27.123456789Z", 21.5)
    assert (doc.index, doc.id) == ("telemetry-2018.05", "s1:1526717967123456789")


@pytest.mark.parametrize("sensor_type, value, stored", [
    ("double", 21.5, 21.5), ("double", 20, 20.0), ("long", 42, 42), ("long", "42", 42),
    ("boolean", True, True), ("keyword", "open", "open"),
])
def test_each_type_fills_exactly_its_own_value_field(sensor_type, value, stored):
    doc = reading("s1", sensor_type, "2018-05-19T08:19:27.5Z", value, device_id="d", owner_id="o")
    assert doc.source == {"@timestamp": "2018-05-19T08:19:27.500000000Z", "sensor_id": "s1", "device_id": "d",
                          "owner_id": "o", "type": sensor_type, VALUE_FIELDS[sensor_type]: stored,
                          "received_at": "2026-11-28T00:00:00.000000000Z", "gateway": "test"}


@pytest.mark.parametrize("record, message", [
    ([], "object"),
    ({"type": "double", "timestamp": 1, "value": 1}, "sensor_id"),
    ({"sensor_id": "s", "type": "float64", "timestamp": 1, "value": 1}, "type"),
    ({"sensor_id": "s", "type": "double", "timestamp": 1}, "required"),
    ({"sensor_id": "s", "type": "double", "timestamp": "yesterday", "value": 1}, "timestamp"),
    ({"sensor_id": "s", "type": "double", "timestamp": "2025-02-29T00:00:00.000000000Z", "value": 1}, "valid date"),
    ({"sensor_id": "s", "type": "double", "timestamp": "2999-01-01T00:00:00.000000000Z", "value": 1}, "after 2262"),
    ({"sensor_id": "s", "type": "double", "timestamp": None, "value": 1}, "required"),
    ({"sensor_id": "s", "type": "long", "timestamp": 1, "value": 1.5}, "integer"),
    ({"sensor_id": "s", "type": "boolean", "timestamp": 1, "value": "maybe"}, "true or false"),
    ({"sensor_id": "s", "type": "double", "timestamp": 1, "value": {"nested": 1}}, "number"),
])
def test_a_record_that_cannot_be_stored_is_refused_with_a_reason(record, message):
    with pytest.raises(InvalidRecordError, match=message):
        build_document(record, device_id="d", owner_id="o", received_at="2026-11-28T00:00:00.000000000Z",
                       gateway="http")


def test_the_template_sets_shards_and_replicas_explicitly():
    assert index_template()["template"]["settings"] == {"number_of_shards": 1, "number_of_replicas": 1}
    assert index_template(0)["template"]["settings"]["number_of_replicas"] == 0


def test_the_template_maps_every_field_strictly_and_aliases_each_index():
    template = index_template()
    assert template["index_patterns"] == ["telemetry-*"]
    assert template["template"]["aliases"] == {ALIAS: {}}
    mappings = template["template"]["mappings"]
    assert mappings["dynamic"] == "strict"
    types = {name: spec["type"] for name, spec in mappings["properties"].items()}
    assert types == {"@timestamp": "date_nanos", "received_at": "date_nanos", "sensor_id": "keyword",
                     "device_id": "keyword", "owner_id": "keyword", "type": "keyword", "gateway": "keyword",
                     "value_double": "double", "value_long": "long", "value_boolean": "boolean",
                     "value_keyword": "keyword"}
