"""A device's export: its query (range, format, estimate), formats and row shape (rendered by
``infra.usecases.exports``).

One row per reading, oldest first: ``timestamp`` (ISO-8601 UTC, ns), ``sensor_id``, ``sensor`` (its name), ``type``
and ``value``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping

from infra.domain.errors import BadRequestError
from infra.domain.telemetry import RecordError, parse_timestamp

FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
CSV_HEADER = ("timestamp", "sensor_id", "sensor", "type", "value")
# Rough bytes per row, for the size estimate: a 30-character timestamp, a 12-character id, a short name, a value.
ROW_BYTES = {"csv": 80, "ndjson": 110}


@dataclass(frozen=True)
class ExportQuery:
    """The parameters of a device export."""

    start_ns: int | None
    end_ns: int | None
    format: str
    estimate: bool


def parse_export_query(args: Mapping[str, str], now_ns: int | None = None) -> ExportQuery:
    """``from``/``to`` (ISO-8601 or epoch s/ms/µs/ns, ``to`` excluded), ``format`` (csv or ndjson), ``estimate=1``.

    Raises:
        BadRequestError: code ``invalid_query``, naming the parameter.
    """
    known = {"from", "to", "format", "estimate"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise _invalid(f"unknown parameter {unknown[0]!r}; use {', '.join(sorted(known))}")
    now_ns = now_ns or time.time_ns()
    bounds = []
    for name in ("from", "to"):
        raw = args.get(name)
        try:
            bounds.append(parse_timestamp(raw, now_ns) if raw not in (None, "") else None)
        except RecordError as exc:
            raise _invalid(f"{name}: {exc.message.replace('timestamp', 'time')}") from None
    if None not in bounds and bounds[0] >= bounds[1]:
        raise _invalid("'from' must be before 'to'")
    fmt = args.get("format", "csv")
    if fmt not in FORMATS:
        raise _invalid(f"format must be one of {', '.join(FORMATS)}")
    estimate = args.get("estimate", "0")
    if estimate not in ("0", "1", "true", "false"):
        raise _invalid("estimate must be 1 or 0")
    return ExportQuery(bounds[0], bounds[1], fmt, estimate in ("1", "true"))


def _invalid(message: str) -> BadRequestError:
    return BadRequestError(message, code="invalid_query")
