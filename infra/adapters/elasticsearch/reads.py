"""Reading one sensor's telemetry: pages of points, downsampled buckets and the latest readings.

Pure functions over an Elasticsearch client, for the data API. Every query filters on the sensor id and reads
through the ``telemetry`` alias. Times are epoch nanoseconds in, ISO-8601 UTC with nine fractional digits out.

Caps (documented for the API): a page holds at most ``MAX_LIMIT`` points; a downsampling request at most
``MAX_BUCKETS`` buckets (counted over the requested range when both bounds are given).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson
from elasticsearch import ApiError, BadRequestError, Elasticsearch, TransportError

from infra.domain.queries import AGGREGATIONS, DEFAULT_LIMIT, DURATION, MAX_BUCKETS, MAX_LIMIT, ORDERS, UNIT_NS
from infra.domain.telemetry import format_timestamp
from infra.adapters.elasticsearch.schema import ALIAS, NUMERIC_TYPES, VALUE_FIELDS, error_reason
from infra.domain.errors import QueryError, StoreUnavailableError

_INTERVAL, _UNIT_NS = DURATION, UNIT_NS
_NS_PER_MS = 1_000_000
_CURSOR_VERSION = 1

Point = dict[str, Any]  # {"timestamp": "<ISO-8601 UTC, ns>", "value": ...}


def read_points(es: Elasticsearch, sensor_id: str, sensor_type: str, start_ns: int | None = None,
                end_ns: int | None = None, limit: int = DEFAULT_LIMIT, cursor: str | None = None,
                order: str = "desc") -> tuple[list[Point], str | None]:
    """Return one page of a sensor's readings in ``[start_ns, end_ns)`` and the cursor of the next page.

    Pages walk ``@timestamp`` with ``search_after`` (unique per sensor, since a reading's id is its sensor and
    timestamp), newest first unless ``order="asc"``. ``next_cursor`` is None on the last page. A cursor is
    only valid for the same sensor, bounds and order.

    Raises:
        QueryError: bad type, bounds, limit, order or cursor.
        StoreUnavailableError: Elasticsearch could not answer.
    """
    field = _value_field(sensor_type)
    _check_range(start_ns, end_ns)
    if order not in ORDERS:
        raise QueryError(f"order must be one of {', '.join(ORDERS)}")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    fingerprint = _fingerprint(sensor_id, sensor_type, start_ns, end_ns, order)
    body: dict[str, Any] = {
        "query": _sensor_query(sensor_id, start_ns, end_ns),
        "sort": [{"@timestamp": {"order": order}}],
        # One more than asked tells whether another page exists, so the last page has no cursor; at the
        # result window (10,000) a full page gets a cursor, which may lead to an empty last page.
        "size": min(limit + 1, MAX_LIMIT),
        "_source": [field],
        "track_total_hits": False,
    }
    if cursor is not None:
        body["search_after"] = [_decode_cursor(cursor, fingerprint)]
    hits = _search(es, body)["hits"]["hits"]
    points = [{"timestamp": format_timestamp(int(hit["sort"][0])), "value": hit["_source"].get(field)}
              for hit in hits[:limit]]
    more = len(hits) > limit or len(hits) == limit == MAX_LIMIT
    next_cursor = _encode_cursor(int(hits[limit - 1]["sort"][0]), fingerprint) if more else None
    return points, next_cursor


def latest(es: Elasticsearch, sensor_id: str, sensor_type: str, n: int = 1) -> list[Point]:
    """Return a sensor's ``n`` newest readings, newest first."""
    points, _ = read_points(es, sensor_id, sensor_type, limit=n)
    return points


def downsample(es: Elasticsearch, sensor_id: str, sensor_type: str, start_ns: int | None, end_ns: int | None,
               interval: str, agg: str, order: str = "desc") -> list[Point]:
    """Aggregate a sensor's readings in ``[start_ns, end_ns)`` into fixed buckets: one point per non-empty bucket.

    ``interval`` is a fixed duration (``500ms``, ``30s``, ``1m``, ``6h``, ``1d``); buckets start at multiples
    of it since the epoch (UTC) and a point's timestamp is its bucket's start. ``agg`` is ``avg``, ``min``,
    ``max``, ``sum`` (numeric sensors only) or ``count`` (any sensor). Newest bucket first unless ``asc``.

    Raises:
        QueryError: bad interval, aggregation for the type, bounds, order, or more than MAX_BUCKETS buckets.
        StoreUnavailableError: Elasticsearch could not answer.
    """
    field = _value_field(sensor_type)
    _check_range(start_ns, end_ns)
    if agg not in AGGREGATIONS:
        raise QueryError(f"agg must be one of {', '.join(AGGREGATIONS)}")
    if agg != "count" and sensor_type not in NUMERIC_TYPES:
        raise QueryError(f"agg {agg} needs a numeric sensor; a {sensor_type} sensor supports count only")
    if order not in ORDERS:
        raise QueryError(f"order must be one of {', '.join(ORDERS)}")
    match = _INTERVAL.match(interval if isinstance(interval, str) else "")
    if not match:
        raise QueryError("interval must be a whole number of ms, s, m, h or d, e.g. 1m")
    interval_ns = int(match.group(1)) * _UNIT_NS[match.group(2)]
    if start_ns is not None and end_ns is not None and (end_ns - start_ns) // interval_ns + 1 > MAX_BUCKETS:
        raise QueryError(f"the range holds more than {MAX_BUCKETS} intervals of {interval}; widen the interval")
    histogram: dict[str, Any] = {"date_histogram": {"field": "@timestamp", "fixed_interval": interval,
                                                    "min_doc_count": 1, "order": {"_key": order}}}
    if agg != "count":
        histogram["aggs"] = {"value": {agg: {"field": field}}}
    body = {"query": _sensor_query(sensor_id, start_ns, end_ns), "size": 0, "track_total_hits": False,
            "aggs": {"points": histogram}}
    buckets = _search(es, body).get("aggregations", {}).get("points", {}).get("buckets", [])
    return [{"timestamp": format_timestamp(int(bucket["key"]) * _NS_PER_MS),
             "value": _bucket_value(bucket, agg, sensor_type)} for bucket in buckets]


def _bucket_value(bucket: dict, agg: str, sensor_type: str):
    if agg == "count":
        return bucket["doc_count"]
    value = bucket["value"]["value"]
    # Elasticsearch answers every metric as a double; min, max and sum of integers are integers.
    if value is not None and sensor_type == "long" and agg != "avg":
        return int(value)
    return value


def _value_field(sensor_type: str) -> str:
    try:
        return VALUE_FIELDS[sensor_type]
    except (KeyError, TypeError):
        raise QueryError(f"unknown sensor type {sensor_type!r}") from None


def _check_range(start_ns: int | None, end_ns: int | None) -> None:
    for name, value in (("start", start_ns), ("end", end_ns)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise QueryError(f"{name} must be epoch nanoseconds (a non-negative integer)")
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise QueryError("the end of the range must be after its start")


def _sensor_query(sensor_id: str, start_ns: int | None, end_ns: int | None) -> dict:
    filters: list[dict] = [{"term": {"sensor_id": sensor_id}}]
    if start_ns is not None or end_ns is not None:
        # ISO strings, not numbers: a number in a range on a date field means epoch milliseconds.
        bounds: dict[str, Any] = {"format": "strict_date_optional_time_nanos"}
        if start_ns is not None:
            bounds["gte"] = format_timestamp(start_ns)
        if end_ns is not None:
            bounds["lt"] = format_timestamp(end_ns)
        filters.append({"range": {"@timestamp": bounds}})
    return {"bool": {"filter": filters}}


def _search(es: Elasticsearch, body: dict) -> dict:
    try:
        # ignore_unavailable: before the first reading is stored there is no index behind the alias yet.
        return es.search(index=ALIAS, body=body, ignore_unavailable=True).body
    except BadRequestError as exc:
        raise QueryError(error_reason(exc)) from None
    except (ApiError, TransportError) as exc:
        raise StoreUnavailableError(f"reading telemetry failed: {exc}") from exc


def _fingerprint(sensor_id: str, sensor_type: str, start_ns, end_ns, order: str) -> str:
    text = f"{sensor_id}|{sensor_type}|{start_ns}|{end_ns}|{order}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_cursor(after_ns: int, fingerprint: str) -> str:
    raw = orjson.dumps({"v": _CURSOR_VERSION, "after": after_ns, "q": fingerprint})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_cursor(cursor: str, fingerprint: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        after, bound = data["after"], data["q"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise QueryError("the cursor is malformed") from None
    if bound != fingerprint or not isinstance(after, int) or isinstance(after, bool):
        raise QueryError("the cursor belongs to another query (sensor, range or order changed)")
    return after
