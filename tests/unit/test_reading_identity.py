"""A reading is (sensor, timestamp): readings without a timestamp get distinct, ordered receive times, readings of
one request that share sensor and timestamp replace each other (counted), and timestamps are bounded."""

import pytest

from infra.usecases.ingest import ReceiveClock, RecentDeliveries
from infra.domain.telemetry import Invalid, ReadingBounds, format_timestamp, normalise_records

NOW = 1_764_300_000_123_456_789  # 2025-11-28T03:20:00.123456789Z
DAY = 86400 * 10**9
SENSORS = {"t": "double", "k": "keyword"}


def test_records_without_a_timestamp_get_distinct_receive_times_in_request_order():
    records = normalise_records([{"sensor_id": "t", "value": 1}, {"sensor_id": "t", "value": 2},
                                 {"sensor_id": "t", "timestamp": 1764300000, "value": 3},
                                 {"sensor_id": "t", "value": 4}], SENSORS, NOW, 10)
    assert [r["value"] for r in records] == [1.0, 2.0, 3.0, 4.0]
    assert [r["timestamp"] for r in records if r["value"] != 3.0] == [
        format_timestamp(NOW), format_timestamp(NOW + 1), format_timestamp(NOW + 3)]


def test_records_of_one_request_with_the_same_sensor_and_time_keep_the_last():
    body = [{"sensor_id": "t", "timestamp": 1764300000, "value": 1},
            {"sensor_id": "k", "timestamp": 1764300000, "value": "other sensor"},
            {"sensor_id": "t", "timestamp": "2025-11-28T03:20:00Z", "value": 2},  # the same instant, written another way
            {"sensor_id": "t", "timestamp": 1764300000000, "value": 3}]
    records = normalise_records(body, SENSORS, NOW, 10)
    assert sorted((r["sensor_id"], r["value"]) for r in records) == [("k", "other sensor"), ("t", 3.0)]


@pytest.mark.parametrize("offset, message", [(-367 * DAY, "366 days before"), (DAY + 10**9, "1 day after")])
def test_timestamps_outside_the_bounds_are_refused_per_record(offset, message):
    result = normalise_records([{"sensor_id": "t", "value": 1},
                                {"sensor_id": "t", "timestamp": NOW + offset, "value": 2}], SENSORS, NOW, 10)
    assert isinstance(result, Invalid)
    [error] = result.errors
    assert (error["index"], error["field"]) == (1, "timestamp") and message in error["message"]


def test_the_bounds_are_settings():
    bounds = ReadingBounds(max_age_ns=60 * 10**9, max_ahead_ns=10**9, max_months=1)
    assert normalise_records({"sensor_id": "t", "timestamp": NOW - 60 * 10**9, "value": 1}, SENSORS, NOW, 10, bounds)
    for ns in (NOW - 61 * 10**9, NOW + 2 * 10**9):
        assert isinstance(normalise_records({"sensor_id": "t", "timestamp": ns, "value": 1}, SENSORS, NOW, 10, bounds),
                          Invalid)


def test_one_request_may_span_only_a_few_months():
    months = ["2025-11-01T00:00:00Z", "2025-10-31T23:59:59Z", "2025-09-15T00:00:00Z", "2025-08-01T00:00:00Z",
              "2025-11-20T00:00:00Z", "2025-07-01T00:00:00Z"]
    result = normalise_records([{"sensor_id": "t", "timestamp": m, "value": i} for i, m in enumerate(months)],
                               SENSORS, NOW, 10)
    assert isinstance(result, Invalid)
    assert [e["index"] for e in result.errors] == [3, 5]  # the 4th and 5th distinct month
    assert all("more than 3 calendar months" in e["message"] for e in result.errors)
    assert len(normalise_records([{"sensor_id": "t", "timestamp": m, "value": 1} for m in months[:3]],
                                 SENSORS, NOW, 10)) == 3


def test_the_receive_clock_never_hands_out_a_nanosecond_twice():
    wall = iter([100, 100, 50, 1000])  # a clock that stands still, then steps back, then jumps
    clock = ReceiveClock(lambda: next(wall))
    assert [clock.reserve(3), clock.reserve(1), clock.reserve(2), clock.reserve(1)] == [100, 103, 104, 1000]


def test_a_repeated_delivery_is_remembered_for_a_while_and_bounded():
    now = [0.0]
    deliveries = RecentDeliveries(ttl=10, max_entries=2, clock=lambda: now[0])
    deliveries.put(("d", "1", b"x"), 111)
    deliveries.put(("d", "2", b"y"), 222)
    assert deliveries.get(("d", "1", b"x")) == 111 and deliveries.get(("d", "1", b"other")) is None
    deliveries.put(("d", "3", b"z"), 333)  # evicts the oldest
    assert deliveries.get(("d", "1", b"x")) is None and deliveries.get(("d", "3", b"z")) == 333
    now[0] = 10.0
    assert deliveries.get(("d", "3", b"z")) is None
