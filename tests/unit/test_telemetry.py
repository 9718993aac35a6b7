"""Record validation and normalisation: types, numeric strings, timestamp units, all-or-nothing errors."""

import pytest
from hypothesis import given, strategies as st

from infra.domain.telemetry import (Invalid, canonical_type, coerce_value, format_timestamp, normalise_records,
                             parse_timestamp, RecordError)

NOW = 1_764_300_000_123_456_789  # 2025-11-28T03:20:00.123456789Z
SENSORS = {"t": "double", "n": "long", "b": "boolean", "k": "keyword"}


@pytest.mark.parametrize("alias, canonical", [("float", "double"), ("integer", "long"), ("string", "keyword"),
                                              ("text", "keyword"), ("Double", "double"), ("boolean", "boolean")])
def test_type_aliases(alias, canonical):
    assert canonical_type(alias) == canonical


def test_unknown_type_is_refused():
    with pytest.raises(ValueError, match="unknown sensor type 'geo_point'"):
        canonical_type("geo_point")


@pytest.mark.parametrize("raw, expected", [
    (1526717967, 1526717967_000000000),                     # seconds
    (1526717967123, 1526717967_123000000),                  # milliseconds
    (1526717967123456, 1526717967_123456000),               # microseconds
    (1526717967123456789, 1526717967_123456789),            # nanoseconds
    (1526717967.5, 1526717967_500000000),                   # fractional seconds
    ("1526717967123", 1526717967_123000000),                # numeric string
    ("2018-05-19T08:19:27Z", 1526717967_000000000),
    ("2018-05-19T08:19:27.123456789Z", 1526717967_123456789),
    ("2018-05-19T10:19:27.5+02:00", 1526717967_500000000),
    ("2018-05-19T08:19:27", 1526717967_000000000),          # naive means UTC
    (None, NOW),                                            # receive time
])
def test_timestamps_in_every_unit(raw, expected):
    assert parse_timestamp(raw, NOW) == expected


@pytest.mark.parametrize("raw, message", [
    ("yesterday", "neither epoch nor ISO"), ("2018-13-45T00:00:00Z", "not a valid date"),
    (True, "number or an ISO"), ({"s": 1}, "number or an ISO"), (-5, "before 1970"), (float("nan"), "finite"),
])
def test_bad_timestamps(raw, message):
    with pytest.raises(RecordError, match=message):
        parse_timestamp(raw, NOW)


def test_format_keeps_nanoseconds():
    assert format_timestamp(1526717967_000000001) == "2018-05-19T08:19:27.000000001Z"
    assert format_timestamp(0) == "1970-01-01T00:00:00.000000000Z"


@given(st.integers(min_value=0, max_value=NOW))
def test_format_and_parse_round_trip(ns):
    assert parse_timestamp(format_timestamp(ns), NOW) == ns


@pytest.mark.parametrize("value, sensor_type, expected", [
    ("91827364", "double", 91827364.0), (21.5, "double", 21.5), (3, "double", 3.0), ("-1e3", "double", -1000.0),
    ("42", "long", 42), (42.0, "long", 42), (7, "long", 7),
    (True, "boolean", True), ("false", "boolean", False), (1, "boolean", True),
    ("on", "keyword", "on"), (12, "keyword", "12"), (False, "keyword", "false"),
])
def test_values_are_typed(value, sensor_type, expected):
    result = coerce_value(value, sensor_type)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("value, sensor_type", [
    ("warm", "double"), (True, "double"), (None, "double"), ("inf", "double"), ([1], "double"),
    (4.5, "long"), ("4.5", "long"), (2**63, "long"), (True, "long"),
    ("yes", "boolean"), (2, "boolean"), ({"a": 1}, "keyword"), ("x" * 1025, "keyword"),
])
def test_values_that_do_not_fit_their_type(value, sensor_type):
    with pytest.raises(RecordError) as err:
        coerce_value(value, sensor_type)
    assert err.value.field == "value"


def test_a_single_record_and_an_array_are_normalised():
    single = normalise_records({"sensor_id": "t", "timestamp": 1764216000, "value": "21.5"}, SENSORS, NOW, 10)
    assert single == [{"sensor_id": "t", "type": "double", "timestamp": "2025-11-27T04:00:00.000000000Z",
                       "value": 21.5}]
    batch = normalise_records([{"sensor_id": "n", "value": "5"}, {"sensor_id": "b", "value": True}],
                              SENSORS, NOW, 10)
    assert [r["value"] for r in batch] == [5, True]
    assert batch[0]["timestamp"] == format_timestamp(NOW)


def test_one_bad_record_refuses_the_whole_request_with_every_error():
    result = normalise_records([
        {"sensor_id": "t", "value": 1},
        {"sensor_id": "other-device-sensor", "value": 1},
        {"sensor_id": "t", "value": "warm"},
        {"sensor_id": "t"},
        "not a record",
        {"sensor_id": "t", "value": 1, "device_id": "spoofed"},
    ], SENSORS, NOW, 10)
    assert isinstance(result, Invalid)
    assert [(e["index"], e["field"]) for e in result.errors] == [
        (1, "sensor_id"), (2, "value"), (3, "value"), (4, "record"), (5, "device_id")]


@pytest.mark.parametrize("body, message", [([], "no records"), ("text", "record object"), (3, "record object"), ([{"sensor_id": "t", "value": 1}] * 11, "at most")])
def test_request_shape_limits(body, message):
    with pytest.raises(ValueError, match=message):
        normalise_records(body, SENSORS, NOW, 10)
