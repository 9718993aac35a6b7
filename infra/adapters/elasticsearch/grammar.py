"""The consume proxy's grammar: what a reader's ``_search`` or ``_count`` body may hold, down to every option.

An allow-list in tables: the body keys, each query type and each aggregation type map their options to a validator
of the option's value. Anything not in a table is refused with a ``QueryError`` naming where it is
(``aggs.v.terms.min_doc_count must be >= 1``, ``sort[0]: field '_script' is not allowed here``); nothing is dropped
silently.
The checked body that comes out is what is sent, never the caller's bytes, so Elasticsearch reads exactly what was
checked (a duplicated JSON key, for one, has already collapsed to the value checked).

Why the tables hold what they hold:

- Only the documented fields may be named. ``owner_id`` (an account id) and ``gateway`` stay internal, and
  ``_source`` is always narrowed to the readable fields.
- Every option must be harmless on a shared index. ``min_doc_count: 0`` is refused: Elasticsearch then fills buckets
  from every document of the shard, whatever the query matched, which lists other tenants' values. So are scripts
  (CPU on the cluster, and the README promises none), ``include``/``exclude`` partitions, ``global`` and the
  other aggregations that ignore the query, and ``missing`` values.
- Every option must behave in the local Elasticsearch stand-in (``emulators/elastic``) exactly as in
  Elasticsearch 8, so that the tests see what production does. Options the stand-in does not model faithfully are
  refused even where harmless: ``case_insensitive`` and ``rewrite`` (Unicode case folding differs), ``\\`` in
  ``wildcard`` (Lucene escapes), ``hard_bounds``/``extended_bounds`` (ES rounds and clips them its own way), region
  time zones and custom date formats, and ``epoch_millis`` output (ES prints sub-millisecond fractions).
- Every option is bounded: sizes, value lists, pattern lengths, query and aggregation depth (caps in
  ``infra.domain.queries``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping, NoReturn

from infra.domain.errors import QueryError
from infra.domain.queries import (MAX_AGG_DEPTH, MAX_QUERY_DEPTH, MAX_SIZE, MAX_TERMS, MAX_TEXT, MAX_VALUES,
                                  MAX_WILDCARDS, MAX_WINDOW)

Validator = Callable[[Any, str], Any]  # (value, where) -> the value to send; raises QueryError naming ``where``

# The documented fields a reader may name, by type (the mapping is in schema.py; a unit test checks they agree).
DATE_FIELDS = ("@timestamp", "received_at")
KEYWORD_FIELDS = ("sensor_id", "device_id", "type", "value_keyword")
NUMERIC_FIELDS = ("value_double", "value_long")
BOOLEAN_FIELDS = ("value_boolean",)
READABLE_FIELDS = DATE_FIELDS + KEYWORD_FIELDS + NUMERIC_FIELDS + BOOLEAN_FIELDS

# ES's default format for date_nanos parses both; only ISO output matches the stand-in's to the digit.
DATE_OUTPUT_FORMATS = ("strict_date_optional_time", "strict_date_optional_time_nanos")
DATE_INPUT_FORMATS = DATE_OUTPUT_FORMATS + ("epoch_millis", "epoch_second")
CALENDAR_INTERVALS = ("minute", "1m", "hour", "1h", "day", "1d", "week", "1w", "month", "1M", "quarter", "1q",
                      "year", "1y")
MAPPING_TYPES = ("date_nanos", "keyword", "long", "double", "boolean")
_AGG_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_COMPOUND = ("bool", "constant_score")


def refuse(where: str, problem: str) -> NoReturn:
    """Raise the 400 of a body outside the grammar; the message starts with where the problem is."""
    raise QueryError(f"{where} {problem}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _listing(names) -> str:
    return ", ".join(sorted(names))


# --- values ---------------------------------------------------------------------------------------------------------


def integer(low: int, high: int | None = None, *, cap: int | None = None) -> Validator:
    """An integer of at least ``low`` (and at most ``high``); one above ``cap`` is lowered to it."""
    def check(value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            refuse(where, "must be an integer")
        if value < low:
            refuse(where, f"must be >= {low}")
        if high is not None and value > high:
            refuse(where, f"must be <= {high}")
        return min(value, cap) if cap is not None else value
    return check


def one_of(*allowed: Any) -> Validator:
    def check(value: Any, where: str) -> Any:
        if isinstance(value, bool) or value not in allowed:
            refuse(where, f"must be one of: {', '.join(map(str, allowed))}")
        return value
    return check


def matching(pattern: str, what: str) -> Validator:
    regex = re.compile(pattern)

    def check(value: Any, where: str) -> str:
        if not isinstance(value, str) or not regex.fullmatch(value):
            refuse(where, f"must be {what}")
        return value
    return check


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        refuse(where, "must be true or false")
    return value


def boost(value: Any, where: str) -> float | int:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        refuse(where, "must be a non-negative number")
    return value


def scalar(value: Any, where: str) -> Any:
    """A string (at most MAX_TEXT characters), a finite number or a boolean."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            refuse(where, f"must be at most {MAX_TEXT} characters")
    elif not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        refuse(where, "must be a string, a number or a boolean")
    return value


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        refuse(where, "must be a string")
    return scalar(value, where)


def bound(value: Any, where: str) -> Any:
    """A range bound: a string (a date, date math) or a number."""
    if isinstance(value, bool):
        refuse(where, "must be a string or a number")
    return scalar(value, where)


def wildcard_pattern(value: Any, where: str) -> str:
    text(value, where)
    # The stand-in does not model Lucene's backslash escapes; '*' count bounds the matching work.
    if "\\" in value:
        refuse(where, "must not contain '\\' (escapes are not supported)")
    if value.count("*") > MAX_WILDCARDS:
        refuse(where, f"may hold at most {MAX_WILDCARDS} '*'")
    return value


def listed(item: Validator, most: int) -> Validator:
    def check(value: Any, where: str) -> list:
        if not isinstance(value, list):
            refuse(where, "must be a list")
        if len(value) > most:
            refuse(where, f"may hold at most {most} values")
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return check


def field_in(fields: tuple[str, ...]) -> Validator:
    def check(value: Any, where: str) -> str:
        if value not in fields:
            raise QueryError(f"{where}: field {value!r} is not allowed here (fields: {', '.join(fields)})")
        return value
    return check


class Options:
    """An object whose keys are named options, each with its validator.

    ``required`` keys must be present; of ``exactly_one`` one must be; ``defaults`` are added when absent.
    """

    def __init__(self, options: dict[str, Validator], *, required: tuple[str, ...] = (),
                 exactly_one: tuple[str, ...] = (), defaults: Mapping[str, Any] | None = None):
        self.options = options
        self.required = required
        self.exactly_one = exactly_one
        self.defaults = dict(defaults or {})

    def __call__(self, value: Any, where: str) -> dict:
        if not isinstance(value, Mapping):
            refuse(where or "the body", "must be an object")
        for key in value:
            if key not in self.options:
                refuse(_join(where, key), f"is not allowed (allowed: {_listing(self.options) or 'nothing'})")
        for key in self.required:
            if key not in value:
                refuse(where, f"needs {key}")
        if self.exactly_one and sum(key in value for key in self.exactly_one) != 1:
            refuse(where, f"needs exactly one of {', '.join(self.exactly_one)}")
        checked = {key: self.options[key](sub, _join(where, key)) for key, sub in value.items()}
        return {**self.defaults, **checked}


# --- queries --------------------------------------------------------------------------------------------------------


def query(value: Any, where: str) -> dict:
    """One query: an object naming exactly one allowed query type."""
    if not isinstance(value, Mapping) or len(value) != 1:
        refuse(where, "must be an object with exactly one query type")
    (kind, params), = value.items()
    grammar = QUERIES.get(kind)
    if grammar is None:
        refuse(_join(where, kind), f"is not allowed (query types: {_listing(QUERIES)})")
    # A path grows one segment per compound query around it (fields and types never hold these words).
    if kind in _COMPOUND and sum(where.count(f".{c}") for c in _COMPOUND) >= MAX_QUERY_DEPTH:
        refuse(where, f"nests compound queries more than {MAX_QUERY_DEPTH} levels deep")
    return {kind: grammar(params, _join(where, kind))}


def clauses(value: Any, where: str) -> Any:
    """A bool clause: one query or a list of them."""
    if isinstance(value, Mapping):
        return query(value, where)
    return listed(query, MAX_VALUES)(value, where)


class FieldQuery:
    """A query on one field, ``{field: value}`` or ``{field: {options}}``; the options may depend on the field."""

    def __init__(self, fields: tuple[str, ...], options: Callable[[str], Options], shorthand: str | None):
        self.fields = fields
        self.options = options
        self.shorthand = shorthand

    def __call__(self, value: Any, where: str) -> dict:
        if not isinstance(value, Mapping) or len(value) != 1:
            refuse(where, "must name exactly one field")
        (field, spec), = value.items()
        field_in(self.fields)(field, where)
        if isinstance(spec, Mapping):
            return {field: self.options(field)(spec, _join(where, field))}
        if self.shorthand is None:
            refuse(_join(where, field), "must be an object of options")
        return {field: self.options(field)({self.shorthand: spec}, _join(where, field))[self.shorthand]}


def terms_query(value: Any, where: str) -> dict:
    """``{field: [values], "boost": n}``; an object instead of the list would be a lookup in another index."""
    if not isinstance(value, Mapping):
        refuse(where, "must be an object")
    fields = [key for key in value if key != "boost"]
    if len(fields) != 1:
        refuse(where, "must name exactly one field")
    field = field_in(READABLE_FIELDS)(fields[0], where)
    if isinstance(value[field], Mapping):
        refuse(_join(where, field), "must be a list of values (terms lookups are not allowed)")
    out = {field: listed(scalar, MAX_VALUES)(value[field], _join(where, field))}
    if "boost" in value:
        out["boost"] = boost(value["boost"], _join(where, "boost"))
    return out


def _range_options(field: str) -> Options:
    options = {"gt": bound, "gte": bound, "lt": bound, "lte": bound, "boost": boost}
    if field in DATE_FIELDS:
        options.update(format=one_of(*DATE_INPUT_FORMATS), time_zone=time_zone)
    return Options(options)


time_zone = matching(r"Z|UTC|[+-](?:(?:0\d|1[0-7]):[0-5]\d|18:00)", "Z, UTC or an offset such as +01:00")
_PERCENTAGE = matching(r"-?\d{1,3}%|-?\d{1,4}", "an integer or a percentage such as 75%")


def minimum_should_match(value: Any, where: str) -> Any:
    """An integer or a percentage (the combinations such as ``3<90%`` are not modelled by the stand-in)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _PERCENTAGE(value, where)


_TERM = Options({"value": scalar, "boost": boost}, required=("value",))
_MATCH = Options({"query": scalar, "boost": boost}, required=("query",))
_PREFIX = Options({"value": text, "boost": boost}, required=("value",))
_WILDCARD = Options({"value": wildcard_pattern, "boost": boost}, required=("value",))

QUERIES: dict[str, Validator] = {
    "bool": Options({"must": clauses, "filter": clauses, "should": clauses, "must_not": clauses,
                     "minimum_should_match": minimum_should_match, "boost": boost}),
    "constant_score": Options({"filter": query, "boost": boost}, required=("filter",)),
    "match_all": Options({"boost": boost}),
    "match_none": Options({}),
    "exists": Options({"field": field_in(READABLE_FIELDS)}, required=("field",)),
    "ids": Options({"values": listed(text, MAX_VALUES), "boost": boost}, required=("values",)),
    "term": FieldQuery(READABLE_FIELDS, lambda field: _TERM, shorthand="value"),
    "terms": terms_query,
    "match": FieldQuery(READABLE_FIELDS, lambda field: _MATCH, shorthand="query"),
    "prefix": FieldQuery(KEYWORD_FIELDS, lambda field: _PREFIX, shorthand="value"),
    "wildcard": FieldQuery(KEYWORD_FIELDS, lambda field: _WILDCARD, shorthand="value"),
    "range": FieldQuery(READABLE_FIELDS, _range_options, shorthand=None),
}


# --- aggregations ---------------------------------------------------------------------------------------------------


class Aggregation:
    """An aggregation type: its options, and whether it makes buckets (and so may hold sub-aggregations)."""

    def __init__(self, options: Options, *, buckets: bool = False):
        self.options = options
        self.buckets = buckets


def bucket_order(value: Any, where: str) -> Any:
    """``{"_key"|"_count": "asc"|"desc"}``, or a list of one such."""
    item = value[0] if isinstance(value, list) and len(value) == 1 else value
    if not isinstance(item, Mapping) or len(item) != 1:
        refuse(where, "must be one {\"_key\" or \"_count\": \"asc\" or \"desc\"}")
    (key, direction), = item.items()
    one_of("_key", "_count")(key, where)
    one_of("asc", "desc")(direction, _join(where, key))
    return value


_DURATION = r"\d{1,9}(?:ms|s|m|h|d)"
_METRIC_OF = {"avg": NUMERIC_FIELDS, "sum": NUMERIC_FIELDS, "stats": NUMERIC_FIELDS,
              "min": NUMERIC_FIELDS + DATE_FIELDS, "max": NUMERIC_FIELDS + DATE_FIELDS,
              "value_count": READABLE_FIELDS}

AGGREGATIONS: dict[str, Aggregation] = {
    "terms": Aggregation(Options({
        "field": field_in(KEYWORD_FIELDS + BOOLEAN_FIELDS + NUMERIC_FIELDS),
        "size": integer(1, cap=MAX_TERMS),
        "min_doc_count": integer(1),
        "order": bucket_order,
    }, required=("field",)), buckets=True),
    "date_histogram": Aggregation(Options({
        "field": field_in(DATE_FIELDS),
        "fixed_interval": matching(r"[1-9]\d{0,8}(?:ms|s|m|h|d)", "a duration such as 30s, 5m, 1h or 1d"),
        "calendar_interval": one_of(*CALENDAR_INTERVALS),
        # ES's default is 0 (empty buckets between the first and the last): here a bucket always holds readings,
        # so no interval can make buckets out of nothing.
        "min_doc_count": integer(1),
        "order": bucket_order,
        "offset": matching(r"[+-]?" + _DURATION, "a duration such as +1h or -30m"),
        "format": one_of(*DATE_OUTPUT_FORMATS),
        "time_zone": time_zone,
        "keyed": boolean,
    }, required=("field",), exactly_one=("fixed_interval", "calendar_interval"), defaults={"min_doc_count": 1}),
        buckets=True),
    **{kind: Aggregation(Options({"field": field_in(fields)}, required=("field",)))
       for kind, fields in _METRIC_OF.items()},
}
_SUB_AGGS = ("aggs", "aggregations")


def aggregations(value: Any, where: str) -> dict:
    """Named aggregations, each of one allowed type, nested at most MAX_AGG_DEPTH levels."""
    depth = 1 + sum(where.count(f".{key}") for key in _SUB_AGGS)  # aggregation names hold no dots
    if depth > MAX_AGG_DEPTH:
        refuse(where, f"nests aggregations more than {MAX_AGG_DEPTH} levels deep")
    if not isinstance(value, Mapping) or not value:
        refuse(where, "must be an object of named aggregations")
    out = {}
    for name, spec in value.items():
        here = _join(where, name)
        if not _AGG_NAME.fullmatch(name):
            refuse(here, "is not a valid name (1 to 64 letters, digits, _ or -)")
        if not isinstance(spec, Mapping):
            refuse(here, "must be an object")
        subs = [key for key in _SUB_AGGS if key in spec]
        kinds = [key for key in spec if key not in _SUB_AGGS]
        if len(subs) > 1:
            refuse(here, "names both aggs and aggregations")
        if len(kinds) != 1:
            refuse(here, f"must name exactly one aggregation type (found: {', '.join(kinds) or 'none'})")
        kind = kinds[0]
        grammar = AGGREGATIONS.get(kind)
        if grammar is None:
            refuse(_join(here, kind), f"is not allowed (aggregation types: {_listing(AGGREGATIONS)})")
        out[name] = {kind: grammar.options(spec[kind], _join(here, kind))}
        if subs:
            if not grammar.buckets:
                refuse(_join(here, subs[0]), f"is not allowed: a {kind} aggregation has no buckets")
            out[name][subs[0]] = aggregations(spec[subs[0]], _join(here, subs[0]))
    return out


# --- search keys ----------------------------------------------------------------------------------------------------


def sort(value: Any, where: str) -> list:
    """Sort keys: readable fields only, each at most once, with ``order``, ``missing``, ``unmapped_type``, and a
    ``format`` for dates. No ``_script``, ``_score``, ``_doc``, ``mode`` or ``nested``."""
    items = value if isinstance(value, list) else [value]
    out, seen = [], set()
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if isinstance(item, str):
            field, options = item, None
        elif isinstance(item, Mapping) and len(item) == 1:
            (field, options), = item.items()
        else:
            refuse(here, "must be a field name or an object with one field")
        field_in(READABLE_FIELDS)(field, here)
        if field in seen:
            refuse(_join(here, field), "is sorted on twice")
        seen.add(field)
        if options is None:
            out.append(field)
        elif isinstance(options, str):
            out.append({field: one_of("asc", "desc")(options, _join(here, field))})
        else:
            out.append({field: _sort_options(field)(options, _join(here, field))})
    return out


def _sort_options(field: str) -> Options:
    options = {"order": one_of("asc", "desc"), "missing": one_of("_first", "_last"),
               "unmapped_type": one_of(*MAPPING_TYPES)}
    if field in DATE_FIELDS:
        options["format"] = one_of(*DATE_OUTPUT_FORMATS)
    return Options(options)


def source(value: Any, where: str) -> Any:
    """``_source``: true, false, field names, or ``{"includes", "excludes"}`` of field names (no patterns).

    What is sent always names its includes, so fields outside READABLE_FIELDS never leave the store.
    """
    names = listed(field_in(READABLE_FIELDS), len(READABLE_FIELDS))
    if value is False:
        return False
    if value is True:
        return {"includes": list(READABLE_FIELDS)}
    if isinstance(value, (str, list)):
        includes = names(value if isinstance(value, list) else [value], where)
        return {"includes": includes or list(READABLE_FIELDS)}
    spec = Options({"includes": names, "excludes": names})(value, where)
    return {"includes": spec.get("includes") or list(READABLE_FIELDS), "excludes": spec.get("excludes", [])}


def track_total_hits(value: Any, where: str) -> Any:
    return value if isinstance(value, bool) else integer(0, 2**31 - 1)(value, where)


def search_after(value: Any, where: str) -> list:
    def item(v: Any, here: str) -> Any:
        return v if v is None else scalar(v, here)
    return listed(item, len(READABLE_FIELDS))(value, where)


SEARCH_BODY = Options({
    "query": query,
    "size": integer(0, cap=MAX_SIZE),
    "from": integer(0),
    "sort": sort,
    "search_after": search_after,
    "_source": source,
    "aggs": aggregations,
    "aggregations": aggregations,
    "track_total_hits": track_total_hits,
})
COUNT_BODY = Options({"query": query})


def check_search(body: Mapping[str, Any]) -> dict:
    """Return the ``_search`` body to send for a reader's ``body``, or raise QueryError naming what is refused.

    Caps are applied (``size`` to MAX_SIZE, a terms ``size`` to MAX_TERMS), ``_source`` is narrowed to the readable
    fields, and a date_histogram's ``min_doc_count`` defaults to 1.
    """
    if "aggs" in body and "aggregations" in body:
        # ES would run whichever comes last; one name makes it plain which was checked.
        refuse("aggs", "and aggregations are both given; use one")
    checked = SEARCH_BODY(body, "")
    checked.setdefault("_source", source(True, "_source"))
    size = checked.get("size", 10)
    if checked.get("from", 0) + size > MAX_WINDOW:
        refuse("from", f"+ size must not exceed {MAX_WINDOW}; page with search_after instead")
    if "search_after" in checked:
        keys = len(checked.get("sort", []))
        if len(checked["search_after"]) != keys or not keys:
            refuse("search_after", f"must hold one value per sort key ({keys} sort keys)")
        if checked.get("from", 0):
            refuse("from", "must be 0 with search_after")
    return checked


def check_count(body: Mapping[str, Any]) -> dict:
    """Return the ``_count`` body to send for a reader's ``body``: it may hold a ``query`` only."""
    return COUNT_BODY(body, "")
