"""Properties of record validation and timestamp normalisation, checked by hypothesis over generated inputs.

- Every unit a device may use (s, ms, µs, ns, ISO-8601) round-trips to the same instant, right up to the bounds.
- Whatever a request holds, it is refused whole or accepted with one stored reading per distinct (sensor, instant):
  nothing accepted is silently lost, and the replaced count is exactly what the last-wins rule dropped.
"""

from datetime import datetime, timedelta, timezone

from hypothesis import example, given, settings, strategies as st

from infra.domain.telemetry import Invalid, ReadingBounds, format_timestamp, normalise_records, parse_timestamp

SECOND = 10**9
BOUNDS = ReadingBounds()
# Receive times between 1975 and 2200: every unit is then told apart by magnitude (ms of 1973 exceed 1e11).
RECEIVE = st.integers(min_value=157_766_400 * SECOND, max_value=7_258_118_400 * SECOND)
SENSORS = {"a": "double", "b": "long", "c": "keyword"}


def _forms(ns: int) -> dict[str, object]:
    """The instant ``ns`` written in each unit a device may use, truncated to that unit."""
    utc = datetime.fromtimestamp(ns // SECOND, timezone.utc)
    local = utc.astimezone(timezone(timedelta(hours=2)))
    return {"s": (ns // SECOND, ns // SECOND * SECOND), "ms": (ns // 10**6, ns // 10**6 * 10**6),
            "us": (ns // 1000, ns // 1000 * 1000), "ns": (ns, ns),
            "iso": (f"{utc:%Y-%m-%dT%H:%M:%S}.{ns % SECOND:09d}Z", ns),
            "iso+02:00": (f"{local:%Y-%m-%dT%H:%M:%S}.{ns % SECOND // 1000:06d}+02:00", ns // 1000 * 1000)}


@settings(max_examples=200)
@given(receive=RECEIVE, offset=st.integers(min_value=-BOUNDS.max_age_ns, max_value=BOUNDS.max_ahead_ns),
       unit=st.sampled_from(["s", "ms", "us", "ns", "iso", "iso+02:00"]))
@example(receive=1_764_300_000 * SECOND, offset=-BOUNDS.max_age_ns, unit="ns")  # exactly at the bounds
@example(receive=1_764_300_000 * SECOND, offset=BOUNDS.max_ahead_ns, unit="ns")
def test_every_unit_round_trips_within_the_bounds(receive, offset, unit):
    raw, expected = _forms(receive + offset)[unit]
    assert parse_timestamp(raw, receive) == expected
    assert parse_timestamp(format_timestamp(expected), receive) == expected
    records = normalise_records({"sensor_id": "a", "timestamp": raw, "value": 1}, SENSORS, receive, 10)
    if receive - BOUNDS.max_age_ns <= expected <= receive + BOUNDS.max_ahead_ns:
        assert records[0]["timestamp"] == format_timestamp(expected)
    else:  # truncating to the unit moved it just outside the past bound
        assert isinstance(records, Invalid)


@given(receive=RECEIVE, beyond=st.integers(min_value=1, max_value=10**6 * SECOND), past=st.booleans())
def test_just_outside_the_bounds_is_refused_as_a_record_error(receive, beyond, past):
    ns = receive - BOUNDS.max_age_ns - beyond if past else receive + BOUNDS.max_ahead_ns + beyond
    result = normalise_records([{"sensor_id": "a", "timestamp": ns, "value": 1}], SENSORS, receive, 10)
    assert isinstance(result, Invalid) and result.errors[0]["field"] == "timestamp"


RECORD = st.fixed_dictionaries({"sensor_id": st.sampled_from(["a", "b", "c"]), "value": st.integers(-5, 5)},
                               optional={"timestamp": st.integers(0, 3).map(lambda i: 1_764_300_000 + i)})


@settings(max_examples=200)
@given(body=st.lists(RECORD, min_size=1, max_size=30))
def test_an_accepted_request_keeps_one_reading_per_sensor_and_instant(body):
    receive = 1_764_300_100 * SECOND
    records = normalise_records(body, SENSORS, receive, 1000)
    assert not isinstance(records, Invalid)
    keys = [(r["sensor_id"], r["timestamp"]) for r in records]
    assert len(keys) == len(set(keys))  # no two stored readings share an identity
    expected = {}
    for index, record in enumerate(body):  # the rule, spelled out: untimed at receipt + position, last one wins
        ns = record["timestamp"] * SECOND if "timestamp" in record else receive + index
        expected[(record["sensor_id"], format_timestamp(ns))] = record["value"]
    assert {key: r["value"] if r["type"] != "keyword" else int(r["value"]) for key, r in zip(keys, records)} \
        == expected
    untimed = [r["timestamp"] for r in records if r["timestamp"] >= format_timestamp(receive)]
    assert untimed == sorted(untimed) and len(untimed) == sum("timestamp" not in r for r in body)


@given(body=st.lists(st.one_of(RECORD, st.dictionaries(st.text(max_size=5), st.integers()), st.integers(),
                               st.none()), min_size=1, max_size=10))
def test_a_request_is_accepted_whole_or_refused_with_an_error_per_bad_record(body):
    result = normalise_records(body, SENSORS, 1_764_300_100 * SECOND, 1000)
    if isinstance(result, Invalid):
        bad = {error["index"] for error in result.errors}
        assert bad and bad <= set(range(len(body)))
        assert all(index in bad for index, record in enumerate(body) if not isinstance(record, dict))
    else:
        assert all(isinstance(record, dict) for record in body)
