"""The read-only search behind the consumer proxy: a caller's search or count, confined to granted sensors.

The caller's body is checked against allow-lists before it reaches Elasticsearch, and its query is wrapped so
that ``bool.filter`` forces ``terms sensor_id`` to the granted sensors; nothing the caller sends can widen it.

Caps (documented for the API):
- ``size`` above ``MAX_SIZE`` is lowered to it; ``from + size`` may not exceed ``MAX_WINDOW``.
- ``terms`` aggregations return at most ``MAX_TERMS`` buckets; aggregations nest at most ``MAX_AGG_DEPTH`` deep.
- Queries and aggregations are limited to the types listed below (no scripts, no lookups in other indices).
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from elasticsearch import ApiError, BadRequestError, Elasticsearch, TransportError

from infra.adapters.elasticsearch.schema import ALIAS, error_reason
from infra.domain.errors import QueryError, StoreUnavailableError
from infra.domain.queries import MAX_AGG_DEPTH, MAX_SENSORS, MAX_SIZE, MAX_TERMS, MAX_WINDOW


SEARCH_KEYS = frozenset(("query", "size", "from", "sort", "search_after", "_source", "aggs", "aggregations",
                         "track_total_hits"))
COUNT_KEYS = frozenset(("query",))
QUERY_TYPES = frozenset(("bool", "term", "terms", "range", "match_all", "match_none", "exists", "ids", "match",
                         "prefix", "wildcard", "constant_score"))
AGG_TYPES = frozenset(("date_histogram", "terms", "avg", "min", "max", "sum", "value_count", "stats"))
_BOOL_CLAUSES = frozenset(("must", "filter", "should", "must_not"))
_BOOL_KEYS = _BOOL_CLAUSES | {"minimum_should_match", "boost"}
_AGG_EXTRA_KEYS = frozenset(("aggs", "aggregations", "meta"))


def search_sensors(es: Elasticsearch, sensor_ids: Sequence[str], body: Mapping[str, Any] | None,
                   count: bool = False) -> dict:
    """Run the caller's ``_search`` (or ``_count``) over the readings of ``sensor_ids`` only; return ES's reply.

    Raises:
        QueryError: a body key, query or aggregation outside the allow-lists (the message names it), a bad
            size/from, or a query Elasticsearch itself refuses (400).
        StoreUnavailableError: Elasticsearch could not answer.
    """
    body = copy.deepcopy(dict(body or {}))  # capping edits nested parts; the caller's body stays as sent
    _check_sensors(sensor_ids)
    allowed = COUNT_KEYS if count else SEARCH_KEYS
    refused = sorted(set(body) - allowed)
    if refused:
        raise QueryError(f"unsupported {'count' if count else 'search'} keys: {', '.join(refused)}"
                         f" (allowed: {', '.join(sorted(allowed))})")
    query = body.pop("query", None)
    if query is not None:
        _check_query(query, "query")
    confined: dict[str, Any] = {"filter": [{"terms": {"sensor_id": list(sensor_ids)}}]}
    if query is not None:
        confined["must"] = [query]
    body["query"] = {"bool": confined}
    if not count:
        _cap_window(body)
        for key in ("aggs", "aggregations"):
            if key in body:
                _check_aggs(body[key], key, 1)
    try:
        if count:
            return es.count(index=ALIAS, body=body, ignore_unavailable=True).body
        return es.search(index=ALIAS, body=body, ignore_unavailable=True).body
    except BadRequestError as exc:
        raise QueryError(error_reason(exc)) from None
    except (ApiError, TransportError) as exc:
        raise StoreUnavailableError(f"searching telemetry failed: {exc}") from exc


def _check_sensors(sensor_ids: Sequence[str]) -> None:
    if isinstance(sensor_ids, str) or not sensor_ids:
        raise QueryError("at least one sensor id is required")
    if len(sensor_ids) > MAX_SENSORS or not all(isinstance(s, str) and s for s in sensor_ids):
        raise QueryError(f"sensor ids must be 1 to {MAX_SENSORS} non-empty strings")


def _cap_window(body: dict) -> None:
    size, start = body.get("size", 10), body.get("from", 0)
    for name, value in (("size", size), ("from", start)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise QueryError(f"{name} must be a non-negative integer")
    body["size"] = min(size, MAX_SIZE)
    if start + body["size"] > MAX_WINDOW:
        raise QueryError(f"from + size must not exceed {MAX_WINDOW}; page with search_after instead")


def _check_query(query: Any, where: str) -> None:
    if not isinstance(query, Mapping) or len(query) != 1:
        raise QueryError(f"{where} must be an object with exactly one query type")
    (kind, params), = query.items()
    if kind not in QUERY_TYPES:
        raise QueryError(f"query type {kind!r} at {where} is not allowed (allowed: {', '.join(sorted(QUERY_TYPES))})")
    if not isinstance(params, Mapping):
        raise QueryError(f"{where}.{kind} must be an object")
    if kind == "bool":
        unknown = sorted(set(params) - _BOOL_KEYS)
        if unknown:
            raise QueryError(f"bool option(s) {', '.join(unknown)} at {where} are not allowed")
        for clause in _BOOL_CLAUSES & set(params):
            inner = params[clause]
            for i, sub in enumerate(inner if isinstance(inner, list) else [inner]):
                _check_query(sub, f"{where}.bool.{clause}[{i}]")
    elif kind == "constant_score":
        if "filter" not in params or set(params) - {"filter", "boost"}:
            raise QueryError(f"constant_score at {where} takes filter and boost only")
        _check_query(params["filter"], f"{where}.constant_score.filter")
    elif kind == "terms":
        # A terms lookup ({"index", "id", "path"}) would read a document of another index: refused.
        for name, values in params.items():
            if name != "boost" and not isinstance(values, list):
                raise QueryError(f"terms at {where} takes a list of values (terms lookups are not allowed)")


def _check_aggs(aggs: Any, where: str, depth: int) -> None:
    if depth > MAX_AGG_DEPTH:
        raise QueryError(f"aggregations nest at most {MAX_AGG_DEPTH} levels deep")
    if not isinstance(aggs, Mapping):
        raise QueryError(f"{where} must be an object of named aggregations")
    for name, spec in aggs.items():
        path = f"{where}.{name}"
        if not isinstance(spec, Mapping):
            raise QueryError(f"{path} must be an object")
        kinds = [key for key in spec if key not in _AGG_EXTRA_KEYS]
        if len(kinds) != 1:
            raise QueryError(f"{path} must name exactly one aggregation type")
        kind = kinds[0]
        if kind not in AGG_TYPES:
            raise QueryError(f"aggregation type {kind!r} at {path} is not allowed "
                             f"(allowed: {', '.join(sorted(AGG_TYPES))})")
        params = spec[kind]
        if not isinstance(params, Mapping):
            raise QueryError(f"{path}.{kind} must be an object")
        if "script" in params:
            raise QueryError(f"scripts are not allowed ({path}.{kind}.script)")
        if kind == "terms":
            size = params.get("size", 10)
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                raise QueryError(f"{path}.terms.size must be a positive integer")
            if size > MAX_TERMS:
                params["size"] = MAX_TERMS
        for key in ("aggs", "aggregations"):
            if key in spec:
                _check_aggs(spec[key], f"{path}.{key}", depth + 1)
