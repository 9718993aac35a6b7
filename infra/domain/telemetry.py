"""Telemetry records: sensor types, timestamp normalisation and validation of what a device sends.

Pure domain code on the ingestion hot path (no I/O). A device sends one record or a list of records:
``{"sensor_id": "s1", "timestamp": 1526717967, "value": "21.5"}``. Each record is normalised to
``{"sensor_id", "type", "timestamp": "<ISO-8601 UTC with nanoseconds>", "value": <typed>}``; a request is
accepted whole or refused whole, with one error per bad record.

A reading's identity is (sensor, timestamp in ns): the store keeps one value per sensor and instant, so a
redelivered message or a device's resend overwrites instead of duplicating. Hence two rules:

- Records without a timestamp get distinct, ordered receive times: the request's receive time plus their
  position in the request, in nanoseconds (``receive_ns + index``). The gateway's clock hands each request a
  range of nanoseconds no other request of the process gets (``infra.usecases.ingest.ReceiveClock``).
- Records of one request with the same sensor and timestamp: the last one wins, as in time-series stores; the
  earlier ones are counted as ``replaced`` in the device's answer, never silently dropped.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

MESSAGE_SCHEMA = "telemetry/v1"  # the ``schema`` attribute of the Pub/Sub messages gateways publish (DESIGN §4.3)
SENSOR_TYPES = ("double", "long", "boolean", "keyword")
TYPE_ALIASES = {"float": "double", "integer": "long", "string": "keyword", "text": "keyword"}

# Epoch magnitudes that tell the unit apart: 1e11 s is the year 5138, 1e14 ms the year 5138, and so on.
_SECONDS_BELOW, _MILLIS_BELOW, _MICROS_BELOW = 1e11, 1e14, 1e17
_NS = 1_000_000_000
_DAY_NS = 24 * 3600 * _NS
MAX_KEYWORD_LENGTH = 1024
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$",
                  re.IGNORECASE)
_EPOCH_TEXT = re.compile(r"^[+-]?\d+(\.\d*)?$")
_RECORD_KEYS = frozenset(("sensor_id", "timestamp", "value"))


def canonical_type(name: str) -> str:
    """Map a sensor type or alias to one of SENSOR_TYPES.

    Raises:
        ValueError: the type is unknown.
    """
    lowered = str(name).strip().lower()
    canonical = TYPE_ALIASES.get(lowered, lowered)
    if canonical not in SENSOR_TYPES:
        known = ", ".join(SENSOR_TYPES + tuple(TYPE_ALIASES))
        raise ValueError(f"unknown sensor type {name!r}; use one of {known}")
    return canonical


class RecordError(ValueError):
    """One record is invalid; ``field`` names the offending field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReadingBounds:
    """How far from its receive time a reading may lie, and how many calendar months one request may touch.

    A reading's UTC month picks its index (``telemetry-YYYY.MM``): unbounded timestamps would let one request
    create an index per month since 1970, hundreds of shards, and exhaust the cluster's shard limit for every
    tenant. Defaults: one year and a day back, one day ahead, three months per request (settings
    ``IOT_READING_MAX_AGE_DAYS``, ``IOT_READING_MAX_AHEAD_SECONDS``, ``IOT_READING_MAX_MONTHS``).
    """

    max_age_ns: int = 366 * _DAY_NS
    max_ahead_ns: int = _DAY_NS
    max_months: int = 3

    def check(self, ns: int, receive_ns: int) -> None:
        """Refuse a timestamp outside [receive time - max age, receive time + max ahead]."""
        if ns < receive_ns - self.max_age_ns:
            raise RecordError("timestamp", f"timestamp is more than {_span(self.max_age_ns)} before the time "
                                           "of receipt")
        if ns > receive_ns + self.max_ahead_ns:
            raise RecordError("timestamp", f"timestamp is more than {_span(self.max_ahead_ns)} after the time "
                                           "of receipt (is the device clock right?)")


def _span(ns: int) -> str:
    seconds = ns // _NS
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{seconds} s"


@dataclass(frozen=True)
class Invalid:
    """The outcome of validating a request that holds bad records."""

    errors: list[dict]


def parse_timestamp(raw: Any, now_ns: int) -> int:
    """Turn epoch s/ms/µs/ns (told apart by magnitude), a numeric string or ISO-8601 into epoch nanoseconds.

    A missing timestamp (None) is ``now_ns``. Naive ISO times are UTC. Anything from 1970 on is returned;
    whether a reading may carry it is ``ReadingBounds``' call.
    """
    if raw is None:
        return now_ns
    if isinstance(raw, bool):
        raise RecordError("timestamp", "timestamp must be a number or an ISO-8601 string")
    if isinstance(raw, str):
        text = raw.strip()
        if _EPOCH_TEXT.match(text):
            ns = _epoch_ns(int(text) if "." not in text else float(text))
        else:
            ns = _iso_ns(text)
    elif isinstance(raw, (int, float)):
        ns = _epoch_ns(raw)
    else:
        raise RecordError("timestamp", "timestamp must be a number or an ISO-8601 string")
    if ns < 0:
        raise RecordError("timestamp", "timestamp is before 1970")
    return ns


def _epoch_ns(number: int | float) -> int:
    if isinstance(number, float) and not math.isfinite(number):
        raise RecordError("timestamp", "timestamp must be finite")
    magnitude = abs(number)
    if magnitude < _SECONDS_BELOW:
        scale = _NS
    elif magnitude < _MILLIS_BELOW:
        scale = 1_000_000
    elif magnitude < _MICROS_BELOW:
        scale = 1_000
    else:
        scale = 1
    if isinstance(number, int):
        return number * scale
    # Split whole and fraction so float seconds keep their sub-microsecond digits where they have any.
    whole = int(number)
    return whole * scale + round((number - whole) * scale)


def _iso_ns(text: str) -> int:
    match = _ISO.match(text)
    if not match:
        raise RecordError("timestamp", f"timestamp {text[:40]!r} is neither epoch nor ISO-8601")
    date, clock, fraction, zone = match.groups()
    try:
        parsed = datetime.fromisoformat(f"{date}T{clock}{_zone(zone)}")
    except ValueError:
        raise RecordError("timestamp", f"timestamp {text[:40]!r} is not a valid date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    seconds = int(parsed.timestamp())
    return seconds * _NS + int((fraction or "0").ljust(9, "0"))


def _zone(zone: str | None) -> str:
    if not zone or zone.upper() == "Z":
        return "+00:00"
    return zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"


def format_timestamp(ns: int) -> str:
    """Epoch nanoseconds as ISO-8601 UTC with nine fractional digits (``2026-11-28T03:21:06.123456789Z``)."""
    seconds, fraction = divmod(ns, _NS)
    t = time.gmtime(seconds)
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            f".{fraction:09d}Z")


def coerce_value(value: Any, sensor_type: str) -> Any:
    """Check ``value`` against the sensor type and return it typed; numeric strings are accepted for numbers."""
    if sensor_type == "double":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise RecordError("value", "value must be a number for a double sensor")
        try:
            number = float(value)
        except ValueError:
            raise RecordError("value", f"value {str(value)[:40]!r} is not a number") from None
        if not math.isfinite(number):
            raise RecordError("value", "value must be finite")
        return number
    if sensor_type == "long":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise RecordError("value", "value must be an integer for a long sensor")
        if isinstance(value, float):
            if not value.is_integer():
                raise RecordError("value", "value must be an integer for a long sensor")
            value = int(value)
        elif isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise RecordError("value", f"value {value[:40]!r} is not an integer") from None
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise RecordError("value", "value does not fit a 64-bit integer")
        return value
    if sensor_type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise RecordError("value", "value must be true or false for a boolean sensor")
    # keyword: any scalar, kept as text
    if isinstance(value, (dict, list)) or value is None:
        raise RecordError("value", "value must be a string, number or boolean for a keyword sensor")
    text = value if isinstance(value, str) else ("true" if value is True else "false" if value is False
                                                 else str(value))
    if len(text) > MAX_KEYWORD_LENGTH:
        raise RecordError("value", f"value is longer than {MAX_KEYWORD_LENGTH} characters")
    return text


def normalise_records(body: Any, sensor_types: Mapping[str, str], receive_ns: int, max_records: int,
                      bounds: ReadingBounds = ReadingBounds()) -> list[dict] | Invalid:
    """Validate one record or a list of them against the device's sensors (id → type).

    Record ``i`` without a timestamp is taken at ``receive_ns + i``. Returns the normalised records, fewer than
    sent when records share a sensor and timestamp (the last one wins; the caller counts the difference as
    replaced), or ``Invalid`` with one error per bad record (``{"index", "sensor_id", "field", "message"}``).

    Raises:
        ValueError: the body is not a record or a list of records, or holds too many (a 400, not a 422).
    """
    if not isinstance(body, (dict, list)):
        raise ValueError("the body must be a record object or an array of records")
    records = body if isinstance(body, list) else [body]
    if isinstance(body, list) and not body:
        raise ValueError("the array holds no records")
    if len(records) > max_records:
        raise ValueError(f"at most {max_records} records per request")
    latest: dict[tuple[str, int], dict] = {}  # (sensor, ns) → record; insertion order is the request's order
    months: set[str] = set()
    errors = []
    for index, record in enumerate(records):
        try:
            ns, normalised = _normalise(record, sensor_types, receive_ns + index, bounds)
            month = normalised["timestamp"][:7]
            if month not in months and len(months) == bounds.max_months:
                raise RecordError("timestamp", f"the request spans more than {bounds.max_months} calendar "
                                               f"months (UTC); send older readings in separate requests")
            months.add(month)
        except RecordError as exc:
            sensor_id = record.get("sensor_id") if isinstance(record, dict) else None
            errors.append({"index": index, "sensor_id": sensor_id if isinstance(sensor_id, str) else None,
                           "field": exc.field, "message": exc.message})
            continue
        key = (normalised["sensor_id"], ns)
        latest.pop(key, None)  # a later record of the same sensor and instant replaces the earlier one
        latest[key] = normalised
    return Invalid(errors) if errors else list(latest.values())


def _normalise(record: Any, sensor_types: Mapping[str, str], default_ns: int,
               bounds: ReadingBounds) -> tuple[int, dict]:
    if not isinstance(record, dict):
        raise RecordError("record", "each record must be a JSON object")
    unknown = record.keys() - _RECORD_KEYS
    if unknown:
        raise RecordError(sorted(unknown)[0], f"unknown field {sorted(unknown)[0]!r}")
    sensor_id = record.get("sensor_id")
    if isinstance(sensor_id, int) and not isinstance(sensor_id, bool):
        sensor_id = str(sensor_id)
    if not isinstance(sensor_id, str) or not sensor_id:
        raise RecordError("sensor_id", "sensor_id is required")
    sensor_type = sensor_types.get(sensor_id)
    if sensor_type is None:
        raise RecordError("sensor_id", f"sensor {sensor_id[:40]!r} does not belong to this device")
    if "value" not in record:
        raise RecordError("value", "value is required")
    value = coerce_value(record["value"], sensor_type)
    raw = record.get("timestamp")
    ns = parse_timestamp(raw, default_ns)
    if raw is not None:
        bounds.check(ns, default_ns)
    return ns, {"sensor_id": sensor_id, "type": sensor_type, "timestamp": format_timestamp(ns), "value": value}
