"""The shape of stored telemetry: monthly indices behind one template and alias, and one document per reading.

Every reading lives in ``telemetry-YYYY.MM`` (the UTC month of its timestamp), created on first write from the
``telemetry`` index template, which also puts each index behind the ``telemetry`` alias that reads go through.
A document carries exactly one typed value field, so numeric aggregations run on a numeric field, and its
``_id`` is derived from (sensor, timestamp): a redelivered message overwrites instead of duplicating.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from typing import Any

from infra.domain.telemetry import RecordError, coerce_value, format_timestamp, parse_timestamp

TEMPLATE_NAME = "telemetry"
TEMPLATE_VERSION = 2  # bump when MAPPINGS or settings change; older installed versions are replaced
ALIAS = "telemetry"
INDEX_PREFIX = "telemetry-"

VALUE_FIELDS = {"double": "value_double", "long": "value_long", "boolean": "value_boolean",
                "keyword": "value_keyword"}
NUMERIC_TYPES = frozenset(("double", "long"))

MAPPINGS: dict[str, Any] = {
    # Garbage must not grow the mapping: an unknown field makes the item fail (a permanent 400).
    "dynamic": "strict",
    "properties": {
        "@timestamp": {"type": "date_nanos"},
        "received_at": {"type": "date_nanos"},
        "sensor_id": {"type": "keyword"},
        "device_id": {"type": "keyword"},
        "owner_id": {"type": "keyword"},
        "type": {"type": "keyword"},
        "gateway": {"type": "keyword"},
        "value_double": {"type": "double"},
        "value_long": {"type": "long"},
        "value_boolean": {"type": "boolean"},
        "value_keyword": {"type": "keyword"},
    },
}
# One shard per month: a month of a few thousand sensors is far below the size where more shards pay off.
SHARDS = 1
DEFAULT_REPLICAS = 1  # explicit, so that the shards a month costs (SHARDS x (1 + replicas)) are known

_NS = 1_000_000_000
# The gateways' canonical form; such timestamps skip the general parser (the pipeline's hot path).
_CANONICAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{9})Z$")
_DATE_NANOS_MAX = 2**63 - 1  # 2262-04-11T23:47:16.854775807Z, the last instant a date_nanos field holds


class InvalidRecordError(ValueError):
    """A record of a telemetry message cannot become a document (never retried)."""


def error_reason(exc: Exception) -> str:
    """The innermost reason of an Elasticsearch error (e.g. too_many_buckets nested under a search failure)."""
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    while isinstance(error, dict) and isinstance(error.get("caused_by"), dict):
        error = error["caused_by"]
    reason = error.get("reason") if isinstance(error, dict) else None
    return str(reason or getattr(exc, "message", None) or exc)[:300]


def index_settings(replicas: int = DEFAULT_REPLICAS) -> dict[str, Any]:
    """The settings of every monthly index."""
    return {"number_of_shards": SHARDS, "number_of_replicas": replicas}


def index_template(replicas: int = DEFAULT_REPLICAS) -> dict[str, Any]:
    """The body of the ``telemetry`` index template (for ``indices.put_index_template``)."""
    return {
        "index_patterns": [f"{INDEX_PREFIX}*"],
        "priority": 100,
        "version": TEMPLATE_VERSION,
        "_meta": {"managed_by": "iot-platform infra.adapters.elasticsearch"},
        "template": {"settings": index_settings(replicas), "mappings": MAPPINGS, "aliases": {ALIAS: {}}},
    }


def index_for(timestamp_ns: int) -> str:
    """The monthly index of a reading taken at ``timestamp_ns`` (UTC): ``telemetry-2026.11``."""
    t = time.gmtime(timestamp_ns // _NS)
    return f"{INDEX_PREFIX}{t.tm_year:04d}.{t.tm_mon:02d}"


def document_id(sensor_id: str, timestamp_ns: int) -> str:
    """The ``_id`` of a reading: one reading per sensor and timestamp, so a redelivery overwrites it."""
    return f"{sensor_id}:{timestamp_ns}"


@dataclass(frozen=True)
class Document:
    """One reading ready for a bulk ``index`` action."""

    index: str
    id: str
    source: dict[str, Any]

    @property
    def sensor_id(self) -> str:
        return self.source["sensor_id"]


def build_document(record: Any, *, device_id: str, owner_id: str, received_at: str, gateway: str) -> Document:
    """Turn one normalised record of a ``telemetry/v1`` message into its document.

    The gateways already validated the record; this checks it again because the pipeline must never index
    something the mapping would misread (a record that fails here is rejected, not retried). How old or new a
    reading may be is the gateways' rule (``ReadingBounds``, judged at receipt, where the device can be told):
    a message delayed by an outage must not be refused later for having aged meanwhile.

    Raises:
        InvalidRecordError: the record lacks a field, names an unknown type, or its value or timestamp is bad.
    """
    if not isinstance(record, dict):
        raise InvalidRecordError("a record must be a JSON object")
    sensor_id, sensor_type = record.get("sensor_id"), record.get("type")
    if not isinstance(sensor_id, str) or not sensor_id:
        raise InvalidRecordError("sensor_id is missing")
    if sensor_type not in VALUE_FIELDS:
        raise InvalidRecordError(f"type {str(sensor_type)[:40]!r} is not one of {', '.join(VALUE_FIELDS)}")
    if "value" not in record or record.get("timestamp") is None:
        raise InvalidRecordError("timestamp and value are required")
    try:
        value = coerce_value(record["value"], sensor_type)
        timestamp_ns, timestamp = _timestamp(record["timestamp"])
    except RecordError as exc:
        raise InvalidRecordError(exc.message) from None
    source = {
        "@timestamp": timestamp,
        "sensor_id": sensor_id,
        "device_id": device_id,
        "owner_id": owner_id,
        "type": sensor_type,
        VALUE_FIELDS[sensor_type]: value,
        "received_at": received_at,
        "gateway": gateway,
    }
    # The canonical form starts with YYYY-MM: the month's index without a calendar conversion.
    return Document(f"{INDEX_PREFIX}{timestamp[:4]}.{timestamp[5:7]}", document_id(sensor_id, timestamp_ns), source)


def _timestamp(raw) -> tuple[int, str]:
    """Epoch nanoseconds and the canonical ISO form (``YYYY-MM-DDTHH:MM:SS.fffffffffZ``) of a record's timestamp."""
    match = _CANONICAL.match(raw) if isinstance(raw, str) else None
    if match is None:
        ns = parse_timestamp(raw, 0)  # never None here: a record without a timestamp was refused above
        _check_representable(ns)
        return ns, format_timestamp(ns)
    year, month, day, hour, minute, second, fraction = (int(part) for part in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60
            and second < 60):
        raise RecordError("timestamp", f"timestamp {raw!r} is not a valid date")
    ns = calendar.timegm((year, month, day, hour, minute, second)) * _NS + fraction
    _check_representable(ns)
    return ns, raw


def _check_representable(ns: int) -> None:
    if ns > _DATE_NANOS_MAX:
        raise RecordError("timestamp", "timestamp is after 2262-04-11, the last instant a nanosecond date holds")
