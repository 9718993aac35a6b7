"""The data API's query parameters (who may read a sensor is ``infra.web.auth.sensor_for_reading``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping

from infra.domain.errors import BadRequestError
from infra.domain.telemetry import RecordError, parse_timestamp
from infra.domain.queries import AGGREGATIONS, DEFAULT_LIMIT, MAX_LIMIT

FORMATS = ("json", "csv")


@dataclass(frozen=True)
class DataQuery:
    """The parameters of ``GET /api/sensors/{id}/data``."""

    start_ns: int | None
    end_ns: int | None
    limit: int
    cursor: str | None
    order: str
    interval: str | None
    agg: str
    format: str


def parse_data_query(args: Mapping[str, str], now_ns: int | None = None) -> DataQuery:
    """Check the query string: ``from``/``to`` (ISO-8601 or epoch s/ms/µs/ns), ``limit``, ``cursor``,
    ``order``, ``interval`` + ``agg``, ``format``.

    Raises:
        BadRequestError: code ``invalid_query``, naming the parameter.
    """
    known = {"from", "to", "limit", "cursor", "order", "interval", "agg", "format"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise _invalid(f"unknown parameter {unknown[0]!r}; use {', '.join(sorted(known))}")
    now_ns = now_ns or time.time_ns()
    start_ns, end_ns = _bound(args, "from", now_ns), _bound(args, "to", now_ns)
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise _invalid("'from' must be before 'to'")
    try:
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise _invalid("limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _invalid(f"limit must be between 1 and {MAX_LIMIT}")
    order = args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise _invalid("order must be asc or desc")
    interval, agg = args.get("interval"), args.get("agg", "avg")
    if agg not in AGGREGATIONS:
        raise _invalid(f"agg must be one of {', '.join(AGGREGATIONS)}")
    if "agg" in args and interval is None:
        raise _invalid("agg needs an interval, e.g. interval=1m")
    if interval is not None and "cursor" in args:
        raise _invalid("downsampled results come in one page; cursor does not apply")
    fmt = args.get("format", "json")
    if fmt not in FORMATS:
        raise _invalid(f"format must be one of {', '.join(FORMATS)}")
    return DataQuery(start_ns, end_ns, limit, args.get("cursor"), order, interval, agg, fmt)


def _bound(args: Mapping[str, str], name: str, now_ns: int) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_timestamp(raw, now_ns)
    except RecordError as exc:
        raise _invalid(f"{name}: {exc.message.replace('timestamp', 'time')}") from None


def _invalid(message: str) -> BadRequestError:
    return BadRequestError(message, code="invalid_query")
