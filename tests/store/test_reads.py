"""Reading one sensor back: exact points with nanosecond timestamps, cursor pages, downsampling, latest."""

import statistics

import pytest

from infra.domain.telemetry import format_timestamp
from infra.adapters.elasticsearch import ALIAS, downsample, latest, read_points
from infra.domain.queries import MAX_BUCKETS, MAX_LIMIT
from infra.domain.errors import QueryError
from tests.store.helpers import reading, store

BASE = 1_764_300_000_000_000_000  # 2025-11-28T03:20:00Z in ns
SECOND = 1_000_000_000


@pytest.fixture
def series(store_es, sensor):
    """25 double readings of one sensor, 7.3 s apart with odd nanoseconds, plus a neighbour's readings."""
    values = [round(20 + (i * 7919 % 97) / 10, 1) for i in range(25)]
    stamps = [BASE + i * 7_300_000_000 + i * 111 for i in range(25)]
    store(store_es, [reading(sensor, "double", format_timestamp(t), v) for t, v in zip(stamps, values)]
          + [reading(f"{sensor}-other", "double", format_timestamp(t), -1.0) for t in stamps])
    store_es.indices.refresh(index=ALIAS)
    return sensor, list(zip(stamps, values))


def test_points_come_back_exactly_newest_first(store_es, series):
    sensor, readings = series
    points, cursor = read_points(store_es, sensor, "double")
    assert points == [{"timestamp": format_timestamp(t), "value": v} for t, v in reversed(readings)]
    assert cursor is None
    assert points[0]["timestamp"] == "2025-11-28T03:22:55.200002664Z"  # nanoseconds survive the round trip


def test_ascending_order_and_nanosecond_range_bounds(store_es, series):
    sensor, readings = series
    start, end = readings[3][0], readings[9][0]  # start inclusive, end exclusive, to the nanosecond
    points, _ = read_points(store_es, sensor, "double", start, end, order="asc")
    assert points == [{"timestamp": format_timestamp(t), "value": v} for t, v in readings[3:9]]
    points, _ = read_points(store_es, sensor, "double", start + 1, end + 1, order="asc")
    assert [p["timestamp"] for p in points] == [format_timestamp(t) for t, _ in readings[4:10]]


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_a_cursor_walks_every_page_once(store_es, series, order):
    sensor, readings = series
    pages, cursor = [], None
    while True:
        points, cursor = read_points(store_es, sensor, "double", BASE, BASE + 3600 * SECOND, limit=7, cursor=cursor,
                                     order=order)
        pages.append(points)
        if cursor is None:
            break
    assert [len(page) for page in pages] == [7, 7, 7, 4]
    expected = [{"timestamp": format_timestamp(t), "value": v} for t, v in readings]
    assert [p for page in pages for p in page] == (expected if order == "asc" else expected[::-1])


def test_an_exact_last_page_has_no_cursor(store_es, series):
    sensor, _ = series
    points, cursor = read_points(store_es, sensor, "double", limit=25)
    assert len(points) == 25 and cursor is None


def test_the_documented_maximum_limit_is_served(store_es, series):
    sensor, _ = series
    points, cursor = read_points(store_es, sensor, "double", limit=MAX_LIMIT)  # at the result window, not over it
    assert len(points) == 25 and cursor is None


def test_a_cursor_is_bound_to_its_query(store_es, series):
    sensor, _ = series
    _, cursor = read_points(store_es, sensor, "double", limit=5)
    with pytest.raises(QueryError, match="another query"):
        read_points(store_es, f"{sensor}-other", "double", limit=5, cursor=cursor)
    with pytest.raises(QueryError, match="another query"):
        read_points(store_es, sensor, "double", limit=5, cursor=cursor, order="asc")
    with pytest.raises(QueryError, match="malformed"):
        read_points(store_es, sensor, "double", cursor="not-a-cursor!")


def test_an_unknown_sensor_or_an_empty_range_reads_nothing(store_es, series):
    sensor, _ = series
    assert read_points(store_es, "no-such-sensor", "double") == ([], None)
    assert read_points(store_es, sensor, "double", 0, SECOND) == ([], None)


@pytest.mark.parametrize("kwargs, message", [
    ({"limit": 0}, "limit"), ({"limit": 10_001}, "limit"), ({"order": "sideways"}, "order"),
    ({"start_ns": 10, "end_ns": 10}, "after its start"), ({"start_ns": -1}, "start"),
    ({"sensor_type": "float"}, "type"),
])
def test_bad_read_parameters_are_refused(store_es, kwargs, message):
    args = {"sensor_id": "s", "sensor_type": "double", **kwargs}
    with pytest.raises(QueryError, match=message):
        read_points(store_es, **args)


def test_downsampled_averages_match_values_computed_here(store_es, series):
    sensor, readings = series
    minute = 60 * SECOND
    buckets: dict[int, list[float]] = {}
    for t, v in readings:
        buckets.setdefault(t - t % minute, []).append(v)
    points = downsample(store_es, sensor, "double", BASE, BASE + 3600 * SECOND, "1m", "avg", order="asc")
    assert [p["timestamp"] for p in points] == [format_timestamp(k) for k in sorted(buckets)]
    assert [p["value"] for p in points] == pytest.approx([statistics.mean(buckets[k]) for k in sorted(buckets)])
    newest_first = downsample(store_es, sensor, "double", BASE, BASE + 3600 * SECOND, "1m", "avg")
    assert newest_first == points[::-1]


@pytest.mark.parametrize("agg, compute", [("min", min), ("max", max), ("sum", sum), ("count", len)])
def test_every_aggregation_over_one_bucket(store_es, series, agg, compute):
    sensor, readings = series
    [point] = downsample(store_es, sensor, "double", None, None, "1d", agg)
    assert point["timestamp"] == format_timestamp(BASE - BASE % (86400 * SECOND))
    assert point["value"] == pytest.approx(compute([v for _, v in readings]))


def test_long_sensors_aggregate_to_integers_and_count_works_for_any_type(store_es, sensor):
    store(store_es, [reading(sensor, "long", BASE + i * SECOND, 10 * i) for i in range(6)]
          + [reading(f"{sensor}-kw", "keyword", BASE + i * SECOND, f"state-{i % 2}") for i in range(6)])
    store_es.indices.refresh(index=ALIAS)
    assert downsample(store_es, sensor, "long", None, None, "3s", "sum", order="asc") == [
        {"timestamp": format_timestamp(BASE - BASE % (3 * SECOND)), "value": 30},
        {"timestamp": format_timestamp(BASE - BASE % (3 * SECOND) + 3 * SECOND), "value": 120}]
    assert downsample(store_es, sensor, "long", None, None, "1h", "avg")[0]["value"] == 25.0
    assert downsample(store_es, f"{sensor}-kw", "keyword", None, None, "1h", "count")[0]["value"] == 6
    with pytest.raises(QueryError, match="numeric"):
        downsample(store_es, f"{sensor}-kw", "keyword", None, None, "1h", "avg")


@pytest.mark.parametrize("interval, agg, message", [
    ("1 minute", "avg", "interval"), ("0s", "avg", "interval"), ("1M", "avg", "interval"),
    ("1m", "median", "agg"), ("1ms", "avg", f"more than {MAX_BUCKETS}"),
])
def test_bad_downsampling_requests_are_refused(store_es, interval, agg, message):
    with pytest.raises(QueryError, match=message):
        downsample(store_es, "s", "double", BASE, BASE + 3600 * SECOND, interval, agg)


def test_latest_returns_the_newest_readings(store_es, series):
    sensor, readings = series
    assert latest(store_es, sensor, "double") == [{"timestamp": format_timestamp(readings[-1][0]),
                                                   "value": readings[-1][1]}]
    assert [p["value"] for p in latest(store_es, sensor, "double", 3)] == [v for _, v in readings[-3:]][::-1]
