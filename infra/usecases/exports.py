"""Exporting a device's readings (every sensor) for a time range: its size estimate and its streamed rows.

The owner or an admin may export (another tenant's device is 404). Rows of sensors the device no longer has
(deleted, their readings being erased) are left out. CSV quotes every text cell and defuses text a spreadsheet would
run as a formula (as the sensor CSV does, ``csv_export``); sensor names are user text too. Rows are joined into
chunks of about ``CHUNK_BYTES``, so a streamed reply is neither one write per row nor one buffer for all.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

import orjson

from infra.domain.claims import DEVICE
from infra.domain.csv_export import formula_safe
from infra.domain.device_export import CSV_HEADER, FORMATS, ROW_BYTES, ExportQuery
from infra.domain.model import User
from infra.domain.ports import DeviceReadings, Repository
from infra.usecases import keyholders


CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Export:
    """A started export: what to call the file, its type, and its bytes (read lazily)."""

    filename: str
    content_type: str
    chunks: Iterator[bytes]


def estimate_export(repo: Repository, readings: DeviceReadings, caller: User, device_id: str,
                    query: ExportQuery) -> dict[str, Any]:
    """How many readings (and roughly how many bytes) the export of this range holds, for a progress bar."""
    device = keyholders.get(repo, DEVICE, caller, device_id)
    count = readings.count_device_readings(device.id, query.start_ns, query.end_ns)
    return {"device_id": device.id, "format": query.format, "readings": count,
            "sensors": len(repo.sensors_of_device(device.id)), "approximate_bytes": count * ROW_BYTES[query.format]}


def export_device(repo: Repository, readings: DeviceReadings, caller: User, device_id: str,
                  query: ExportQuery) -> Export:
    """Start the export: the first page is read now, so a store that is down is an error reply, not a cut file.

    Raises:
        NotFoundError: no such device, or another tenant's.
        StoreUnavailableError: the store could not start the walk.
    """
    device = keyholders.get(repo, DEVICE, caller, device_id)
    names = {sensor.id: sensor.name for sensor in repo.sensors_of_device(device.id)}
    rows = (row for row in readings.device_readings(device.id, query.start_ns, query.end_ns)
            if row["sensor_id"] in names)
    first = next(rows, None)
    started = rows if first is None else itertools.chain((first,), rows)
    return Export(f"device-{device.id}.{query.format}", FORMATS[query.format], render(started, names, query.format))


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
