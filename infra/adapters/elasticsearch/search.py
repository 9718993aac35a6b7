"""The read-only search behind the consumer proxy: a caller's search or count, confined to granted sensors.

The caller's body is checked against the grammar (``grammar.py``: body keys, query and aggregation types, and each
one's options and values) and the checked body, never the caller's bytes, is sent. Its query goes into the filter
context of a ``bool`` whose other filter is ``terms sensor_id`` of the granted sensors: nothing the caller sends can
widen it, and every hit scores 0, so no score reflects term statistics of other tenants' documents in the shard.

Caps (documented for the API): ``size`` above ``MAX_SIZE`` is lowered to it, ``from + size`` may not exceed
``MAX_WINDOW``, a ``terms`` aggregation returns at most ``MAX_TERMS`` buckets, and a reply holds at most
``MAX_BUCKETS`` buckets in all (a 400 beyond, as for the data API's downsampling).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from elasticsearch import ApiError, BadRequestError, Elasticsearch, TransportError

from infra.adapters.elasticsearch.grammar import check_count, check_search
from infra.adapters.elasticsearch.schema import ALIAS, error_reason
from infra.domain.errors import QueryError, StoreUnavailableError
from infra.domain.queries import MAX_BUCKETS, MAX_SENSORS


def search_sensors(es: Elasticsearch, sensor_ids: Sequence[str], body: Mapping[str, Any] | None,
                   count: bool = False) -> dict:
    """Run the caller's ``_search`` (or ``_count``) over the readings of ``sensor_ids`` only; return ES's reply.

    Raises:
        QueryError: a body outside the grammar (the message names where), a query Elasticsearch itself refuses,
            or a reply of more than MAX_BUCKETS buckets (400).
        StoreUnavailableError: Elasticsearch could not answer.
    """
    _check_sensors(sensor_ids)
    body = check_count(body or {}) if count else check_search(body or {})
    confined: dict[str, Any] = {"filter": [{"terms": {"sensor_id": list(sensor_ids)}}]}
    if "query" in body:
        confined["filter"].append(body["query"])
    body["query"] = {"bool": confined}
    try:
        if count:
            return es.count(index=ALIAS, body=body, ignore_unavailable=True).body
        reply = es.search(index=ALIAS, body=body, ignore_unavailable=True).body
    except BadRequestError as exc:
        raise QueryError(error_reason(exc)) from None
    except (ApiError, TransportError) as exc:
        raise StoreUnavailableError(f"searching telemetry failed: {exc}") from exc
    made = _buckets(reply.get("aggregations") or {})
    if made > MAX_BUCKETS:
        raise QueryError(f"the aggregations made {made} buckets, more than {MAX_BUCKETS}: use a coarser interval, "
                         "a smaller terms size or a narrower query")
    return reply


def _check_sensors(sensor_ids: Sequence[str]) -> None:
    if isinstance(sensor_ids, str) or not sensor_ids:
        raise QueryError("at least one sensor id is required")
    if len(sensor_ids) > MAX_SENSORS or not all(isinstance(s, str) and s for s in sensor_ids):
        raise QueryError(f"sensor ids must be 1 to {MAX_SENSORS} non-empty strings")


def _buckets(aggregations: Mapping[str, Any]) -> int:
    """The buckets of an aggregations reply, at every level."""
    total = 0
    for result in aggregations.values():
        buckets = result.get("buckets") if isinstance(result, Mapping) else None
        if buckets is None:
            continue
        for bucket in buckets.values() if isinstance(buckets, Mapping) else buckets:
            total += 1 + _buckets({k: v for k, v in bucket.items() if isinstance(v, Mapping)})
    return total
