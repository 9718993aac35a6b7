"""``TelemetryReader``: what the data API reads from the store (pages, buckets, the consumer search, a device's
export), over the process's Elasticsearch client."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Sequence

from elasticsearch import Elasticsearch

from infra.adapters.elasticsearch.export import count_device_readings, device_readings
from infra.adapters.elasticsearch.reads import Point, downsample, read_points
from infra.adapters.elasticsearch.search import search_sensors


class TelemetryReader:
    """The ``TelemetryReader`` port: pages, buckets and the consumer search of ``reads`` and ``search``."""

    def __init__(self, es: Callable[[], Elasticsearch]):
        self._es = es

    def points(self, sensor_id: str, sensor_type: str, start_ns: int | None, end_ns: int | None, limit: int,
               cursor: str | None, order: str) -> tuple[list[Point], str | None]:
        """One page of readings and the cursor of the next (``reads.read_points``)."""
        return read_points(self._es(), sensor_id, sensor_type, start_ns, end_ns, limit, cursor, order)

    def buckets(self, sensor_id: str, sensor_type: str, start_ns: int | None, end_ns: int | None, interval: str,
                agg: str, order: str) -> list[Point]:
        """One point per interval (``reads.downsample``)."""
        return downsample(self._es(), sensor_id, sensor_type, start_ns, end_ns, interval, agg, order)

    def search(self, sensor_ids: Sequence[str], body: Mapping[str, Any] | None, *, count: bool = False) -> dict:
        """A consumer's ``_search`` or ``_count`` confined to ``sensor_ids`` (``search.search_sensors``)."""
        return search_sensors(self._es(), sensor_ids, body, count=count)

    def device_readings(self, device_id: str, start_ns: int | None, end_ns: int | None) -> Iterator[dict[str, Any]]:
        """Every reading of a device in the range, oldest first, a page at a time (``export.device_readings``)."""
        return device_readings(self._es(), device_id, start_ns, end_ns)

    def count_device_readings(self, device_id: str, start_ns: int | None, end_ns: int | None) -> int:
        """How many readings ``device_readings`` would walk."""
        return count_device_readings(self._es(), device_id, start_ns, end_ns)
