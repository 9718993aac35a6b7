"""Exporting a device's readings (every sensor) for a time range: its size estimate and its streamed rows.

The owner or an admin may export (another tenant's device is 404). Rows of sensors the device no longer has
(deleted, their readings being erased) are left out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterator

from infra.domain.claims import DEVICE
from infra.domain.device_export import FORMATS, ROW_BYTES, ExportQuery, render
from infra.domain.model import User
from infra.domain.ports import DeviceReadings, Repository
from infra.usecases import keyholders


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
