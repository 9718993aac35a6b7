"""A device's readings in a time range, streamed oldest first with a point in time and ``search_after``.

The export reads a page at a time (``PAGE_SIZE`` readings) and hands rows on as it goes, so memory holds one page
whatever the range. A point in time pins the indices for the whole walk and its implicit ``_shard_doc`` tiebreaker
orders readings with equal timestamps (several sensors of a device), so no reading is skipped or repeated between
pages; it is closed when the walk ends, or is abandoned (a client that hangs up).
"""

from __future__ import annotations

from typing import Any, Iterator

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from infra.adapters.elasticsearch.schema import ALIAS, VALUE_FIELDS
from infra.domain.errors import StoreUnavailableError
from infra.domain.telemetry import format_timestamp

PAGE_SIZE = 2000  # a page costs a few MB of Python objects in the client: memory stays at that, whatever the range
KEEP_ALIVE = "2m"  # between two pages; a client reading slower than that sees the export end in an error
_SOURCE = ["@timestamp", "sensor_id", "type", *VALUE_FIELDS.values()]
_REPLY = "pit_id,hits.hits._source,hits.hits.sort"  # what a page needs of the reply, nothing per hit besides


def device_query(device_id: str, start_ns: int | None, end_ns: int | None) -> dict[str, Any]:
    """Readings of ``device_id`` in ``[start_ns, end_ns)``."""
    # Always a range, even an open one: the time clause then drives the walk in @timestamp order (in the stand-in,
    # a page is a slice of its time column instead of a sort of the device's readings).
    bounds = {"gte": format_timestamp(start_ns or 0)}
    if end_ns is not None:
        bounds["lt"] = format_timestamp(end_ns)
    return {"bool": {"filter": [{"term": {"device_id": device_id}}, {"range": {"@timestamp": bounds}}]}}


def count_device_readings(es: Elasticsearch, device_id: str, start_ns: int | None, end_ns: int | None) -> int:
    """How many readings the export of that range holds (before dropping those of deleted sensors)."""
    try:
        return int(es.count(index=ALIAS, query=device_query(device_id, start_ns, end_ns), ignore_unavailable=True,
                            allow_no_indices=True)["count"])
    except NotFoundError:
        return 0
    except (ApiError, TransportError) as exc:
        raise StoreUnavailableError(f"counting the readings failed: {exc}") from exc


def device_readings(es: Elasticsearch, device_id: str, start_ns: int | None, end_ns: int | None,
                    page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
    """Yield ``{"timestamp", "sensor_id", "type", "value"}`` for each reading, oldest first, a page at a time.

    Raises:
        StoreUnavailableError: Elasticsearch failed (before the first row, or between pages).
    """
    try:
        pit = es.open_point_in_time(index=ALIAS, keep_alive=KEEP_ALIVE, ignore_unavailable=True)["id"]
    except NotFoundError:
        return  # no telemetry index yet
    except (ApiError, TransportError) as exc:
        raise StoreUnavailableError(f"exporting the readings failed: {exc}") from exc
    try:
        after = None
        while True:
            try:
                reply = es.search(pit={"id": pit, "keep_alive": KEEP_ALIVE}, size=page_size,
                                  query=device_query(device_id, start_ns, end_ns), sort=[{"@timestamp": "asc"}],
                                  source=_SOURCE, search_after=after, track_total_hits=False,
                                  filter_path=_REPLY)
            except (ApiError, TransportError) as exc:
                raise StoreUnavailableError(f"exporting the readings failed: {exc}") from exc
            pit = reply.get("pit_id", pit)
            hits = reply.get("hits", {}).get("hits", [])  # filter_path leaves out an empty list
            for hit in hits:
                yield _row(hit["_source"])
            if len(hits) < page_size:
                return
            after = hits[-1]["sort"]
            del reply, hits  # the next page replaces this one, never joins it
    finally:
        try:
            es.close_point_in_time(id=pit)
        except (ApiError, TransportError):
            pass  # it expires after KEEP_ALIVE anyway


def _row(source: dict[str, Any]) -> dict[str, Any]:
    kind = source.get("type")
    return {"timestamp": source["@timestamp"], "sensor_id": source["sensor_id"], "type": kind,
            "value": source.get(VALUE_FIELDS.get(kind, ""))}
