"""``TelemetryReader``: what the data API reads from the store, over the process's Elasticsearch client."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from elasticsearch import Elasticsearch

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
