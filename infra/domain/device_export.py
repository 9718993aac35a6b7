"""A device's export: its query (range, format, estimate) and its rows as CSV or NDJSON, rendered in chunks.

One row per reading, oldest first: ``timestamp`` (ISO-8601 UTC, ns), ``sensor_id``, ``sensor`` (its name), ``type``
and ``value``. CSV quotes every text cell and defuses text that a spreadsheet would run as a formula (as the sensor
CSV does, ``csv_export``); sensor names are user text too. Rows are joined into chunks of about ``CHUNK_BYTES`` so
a streamed reply is neither one write per row nor one buffer for all.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

import orjson

from infra.domain.csv_export import formula_safe
from infra.domain.errors import BadRequestError
from infra.domain.telemetry import RecordError, parse_timestamp

FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
CSV_HEADER = ("timestamp", "sensor_id", "sensor", "type", "value")
CHUNK_BYTES = 64 * 1024
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


def render(rows: Iterable[dict[str, Any]], names: Mapping[str, str], fmt: str) -> Iterator[bytes]:
    """The export's bytes in chunks: a header (CSV) then one line per row; ``names`` maps sensor ids to names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(CSV_HEADER)
    for row in rows:
        if fmt == "csv":
            value = row["value"]
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, str):
                value = formula_safe(value)
            writer.writerow((row["timestamp"], row["sensor_id"], formula_safe(names.get(row["sensor_id"], "")),
                             row["type"], "" if value is None else value))
        else:
            buffer.write(orjson.dumps({**row, "sensor": names.get(row["sensor_id"], "")}).decode())
            buffer.write("\n")
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _invalid(message: str) -> BadRequestError:
    return BadRequestError(message, code="invalid_query")
