"""Aggregations: ``date_histogram`` and ``terms`` buckets, and ``min``/``max``/``avg``/``sum``/``value_count``/
``stats`` metrics, nestable as ES allows. Anything else is refused with a 400 naming it.

``date_histogram`` takes ``fixed_interval`` (ms, s, m, h, d) or ``calendar_interval`` (minute … year),
``min_doc_count`` (default 0: empty buckets between the first and last), ``extended_bounds``,
``hard_bounds``, ``order`` by ``_key`` or ``_count``, ``offset``, ``format``, ``keyed`` and fixed-offset
``time_zone``. Its keys are epoch milliseconds, also on ``date_nanos`` fields, as in ES.

``terms`` takes ``size``, ``min_doc_count`` and ``order`` by ``_count`` or ``_key``; ``shard_size``,
``execution_hint`` and ``collect_mode`` change nothing on one shard and are accepted. ``min_doc_count: 0`` adds a
zero-count bucket for every value the field holds in each index searched, whatever the query matched, as ES does
(ES may also list values of deleted documents until their segments merge; the stand-in lists live values only).
"""

from __future__ import annotations

import re
from typing import Any

from . import dates
from .errors import EsError, illegal_argument, parsing, search_failure, unsupported

MAX_BUCKETS = 65536
_METRICS = {"min", "max", "avg", "sum", "value_count", "stats"}
_BUCKETS = {"date_histogram", "terms"}
_KNOWN_UNSUPPORTED = {
    "histogram", "range", "date_range", "filter", "filters", "cardinality", "percentiles", "percentile_ranks",
    "extended_stats", "top_hits", "composite", "nested", "reverse_nested", "global", "missing", "significant_terms",
    "rare_terms", "multi_terms", "auto_date_histogram", "geo_distance", "geohash_grid", "geotile_grid",
    "scripted_metric", "weighted_avg", "median_absolute_deviation", "string_stats", "boxplot", "t_test",
    "top_metrics", "variable_width_histogram", "sampler", "diversified_sampler", "adjacency_matrix",
    "bucket_sort", "bucket_selector", "bucket_script", "cumulative_sum", "derivative", "moving_fn", "avg_bucket",
    "max_bucket", "min_bucket", "sum_bucket", "stats_bucket", "serial_diff", "matrix_stats", "ip_range",
    "time_series", "categorize_text", "frequent_item_sets", "random_sampler", "rate",
}
_FIXED_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_CALENDAR = {"1m": "m", "minute": "m", "1h": "h", "hour": "h", "1d": "d", "day": "d", "1w": "w", "week": "w",
             "1M": "M", "month": "M", "1q": "q", "quarter": "q", "1y": "y", "year": "y"}


class _Ctx:
    def __init__(self, now_ns: int):
        self.now_ns = now_ns
        self.buckets = 0


def run_aggs(spec: Any, groups: list, now_ns: int) -> dict:
    """Compute ``aggs`` over the matches of each index: ``groups`` is [(index, doc numbers)]."""
    parsed = _parse(spec)
    return _run(parsed, groups, _Ctx(now_ns))


def _parse(spec: Any) -> list[tuple[str, str, dict, list]]:
    if not isinstance(spec, dict):
        raise parsing("Expected [START_OBJECT] under [aggs], but got a different token")
    out = []
    for name, body in spec.items():
        if not isinstance(body, dict):
            raise parsing(f"Expected [START_OBJECT] under [{name}], but got a different token")
        kinds = [k for k in body if k not in ("aggs", "aggregations", "meta")]
        if not kinds:
            raise parsing(f"Missing definition for aggregation [{name}]")
        if len(kinds) > 1:
            raise parsing(f"Found two aggregation type definitions in [{name}]: [{kinds[0]}] and [{kinds[1]}]")
        kind = kinds[0]
        if "meta" in body:
            raise unsupported(f"aggregation [meta] (in [{name}])")
        if kind not in _METRICS and kind not in _BUCKETS:
            if kind in _KNOWN_UNSUPPORTED:
                raise unsupported(f"the [{kind}] aggregation")
            raise EsError(400, "x_content_parse_exception",
                          f"[1:1] Unknown aggregation type [{kind}] did you mean [{_suggest(kind)}]?")
        params = body[kind]
        if not isinstance(params, dict):
            raise parsing(f"[{kind}] aggregation [{name}] expects an object")
        # Refused when present at all: ES refuses a null script too, and ignoring one would run without it.
        if "script" in params:
            raise unsupported(f"scripts in aggregations (in [{name}])")
        if "missing" in params:
            raise unsupported(f"[missing] in aggregations (in [{name}])")
        if "aggs" in body and "aggregations" in body:
            raise parsing(f"Found two sub aggregation definitions under [{name}]")
        subs = body.get("aggs", body.get("aggregations"))
        if subs is not None and kind in _METRICS:
            raise EsError(400, "aggregation_initialization_exception",
                          f"Aggregator [{name}] of type [{kind}] cannot accept sub-aggregations")
        out.append((name, kind, params, _parse(subs) if subs else []))
    return out


def _suggest(kind: str) -> str:
    for known in sorted(_METRICS | _BUCKETS):
        if known.startswith(kind[:2]):
            return known
    return "avg"


def _run(parsed, groups, ctx: _Ctx) -> dict:
    out = {}
    for name, kind, params, subs in parsed:
        if kind == "date_histogram":
            out[name] = _date_histogram(name, params, subs, groups, ctx)
        elif kind == "terms":
            out[name] = _terms(name, params, subs, groups, ctx)
        else:
            out[name] = _metric(name, kind, params, groups)
    return out


def _fields(params: dict, groups) -> list:
    """Return (index, field, doc numbers) for the indices where the aggregation's field is mapped."""
    path = params.get("field")
    if not path:
        raise illegal_argument("Required one of fields [field, script], but none were specified.")
    out = []
    for index, nums in groups:
        field = index.mapping.field(path)
        if field is not None:
            out.append((index, field, nums))
    return out


def _collect(members: list, key_for, want_docs: bool) -> tuple[dict, dict]:
    """Count the matched documents per bucket key; with ``want_docs``, also list each bucket's doc numbers per
    member index, for its sub-aggregations. ``key_for(field)`` gives the function from a value of that index's field
    to its bucket key, or None when the value is the key."""
    counts: dict[Any, int] = {}
    docs: dict[Any, list] = {}
    for gi, (index, field, nums) in enumerate(members):
        slots = index.slots
        path = field.path
        key_of = key_for(field)
        for n in nums:
            v = slots[n].values.get(path)
            if v is None:
                continue
            key = v if key_of is None else key_of(v)
            counts[key] = counts.get(key, 0) + 1
            if want_docs:
                per = docs.get(key)
                if per is None:
                    per = docs[key] = [[] for _ in members]
                per[gi].append(n)
    return counts, docs


def _sub_aggs(subs, members: list, per: list | None, ctx: _Ctx) -> dict:
    """Run a bucket's sub-aggregations over its documents (``per``: doc numbers per member, None when empty)."""
    return _run(subs, [(index, per[gi] if per else []) for gi, (index, _, _) in enumerate(members)], ctx)


def _numeric(value, field) -> float:
    if field.type == "date_nanos":
        return value / dates.NS_PER_MS  # date metrics are epoch milliseconds, as in ES
    if field.type == "boolean":
        return 1.0 if value else 0.0
    return float(value)


def _metric(name: str, kind: str, params: dict, groups) -> dict:
    allowed = {"field", "format", "script", "missing"}
    for key in params:
        if key not in allowed:
            raise parsing(f"[{kind}] unknown field [{key}]")
    count = 0
    total = 0.0
    lo = hi = None
    date_field = None
    for index, field, nums in _fields(params, groups):
        if kind != "value_count" and field.type == "keyword":
            raise search_failure(illegal_argument(
                f"Field [{field.path}] of type [{field.type}] is not supported for aggregation [{kind}]"), index.name)
        if field.type == "date_nanos":
            date_field = field
        slots = index.slots
        path = field.path
        for n in nums:
            v = slots[n].values.get(path)
            if v is None:
                continue
            count += 1
            if kind == "value_count":
                continue
            f = _numeric(v, field)
            total += f
            if lo is None or f < lo:
                lo = f
            if hi is None or f > hi:
                hi = f
    if kind == "value_count":
        return {"value": count}
    fmt = dates.get_format(params["format"]) if params.get("format") and date_field else (
        date_field.fmt if date_field else None)

    def shaped(value):
        out = {"value": value}
        if fmt is not None and value is not None:
            out["value_as_string"] = fmt.format(int(value * dates.NS_PER_MS))
        return out

    if kind == "min":
        return shaped(lo)
    if kind == "max":
        return shaped(hi)
    if kind == "sum":
        return shaped(total)
    if kind == "avg":
        return shaped(total / count if count else None)
    stats = {"count": count, "min": lo, "max": hi, "avg": total / count if count else None, "sum": total}
    if fmt is not None and count:
        for key in ("min", "max", "avg", "sum"):
            stats[f"{key}_as_string"] = fmt.format(int(stats[key] * dates.NS_PER_MS))
    return stats


# --- date_histogram ------------------------------------------------------------------------------------------------

_DH_PARAMS = {"field", "fixed_interval", "calendar_interval", "interval", "min_doc_count", "extended_bounds",
              "hard_bounds", "order", "offset", "format", "time_zone", "keyed", "script", "missing"}


def _parse_duration_ms(text: str, what: str) -> int:
    m = re.fullmatch(r"([+-]?)(\d+)(ms|s|m|h|d)", str(text).strip())
    if not m:
        raise illegal_argument(f"failed to parse setting [{what}] with value [{text}] as a time value: unit is "
                               f"missing or unrecognized")
    value = int(m.group(2)) * _FIXED_UNITS[m.group(3)]
    return -value if m.group(1) == "-" else value


def _date_histogram(name: str, params: dict, subs, groups, ctx: _Ctx) -> dict:
    for key in params:
        if key not in _DH_PARAMS:
            raise parsing(f"[date_histogram] unknown field [{key}]")
    if "interval" in params:
        raise EsError(400, "x_content_parse_exception", "[1:1] [date_histogram] unknown field [interval]")
    fixed, calendar = params.get("fixed_interval"), params.get("calendar_interval")
    if (fixed is None) == (calendar is None):
        raise illegal_argument("Invalid interval specified, must be non-null and non-empty" if fixed is None else
                               "Cannot use [fixed_interval] with [calendar_interval] configuration option.")
    interval_ms = unit = None
    if fixed is not None:
        interval_ms = _parse_duration_ms(fixed, "date_histogram.fixedInterval")
        if interval_ms <= 0:
            raise illegal_argument(f"Zero or negative time interval [{fixed}] not supported")
    else:
        unit = _CALENDAR.get(str(calendar))
        if unit is None:
            raise illegal_argument(f"The supplied interval [{calendar}] can not be parsed as a calendar interval.")
    tz = dates.parse_offset(params.get("time_zone")) if params.get("time_zone") else 0
    tz_ms = tz * 1000
    offset_ms = _parse_duration_ms(params["offset"], "offset") if params.get("offset") else 0
    min_doc_count = int(params.get("min_doc_count", 0))
    if min_doc_count < 0:
        raise illegal_argument(f"[min_doc_count] must be greater than or equal to 0. Found [{min_doc_count}] in "
                               f"[{name}]")
    keyed = bool(params.get("keyed", False))
    order_key, order_desc = _parse_order(params.get("order"), default=("_key", False))

    members: list[tuple[Any, Any, list]] = _fields(params, groups)
    date_field = next((f for _, f, _ in members if f.type == "date_nanos"), None)
    if params.get("format"):
        fmt = dates.get_format(params["format"])
    else:
        fmt = date_field.fmt if date_field is not None else dates.get_format(dates.DEFAULT_DATE)

    cache = [None, None, None]  # last calendar bucket: start, end, key

    def bucket_of(ms: int) -> int:
        if interval_ms is not None:
            local = ms + tz_ms - offset_ms
            return local - local % interval_ms - tz_ms + offset_ms
        if cache[0] is not None and cache[0] <= ms < cache[1]:
            return cache[2]
        ns = (ms - offset_ms) * dates.NS_PER_MS
        start = dates.floor_unit(ns, unit, tz)
        end = dates.next_unit(start, unit, tz)
        key = start // dates.NS_PER_MS + offset_ms
        cache[0], cache[1], cache[2] = key, end // dates.NS_PER_MS + offset_ms, key
        return key

    def next_key(key: int) -> int:
        if interval_ms is not None:
            return key + interval_ms
        return dates.next_unit((key - offset_ms) * dates.NS_PER_MS, unit, tz) // dates.NS_PER_MS + offset_ms

    for index, field, _ in members:
        if field.type not in ("date_nanos", "long", "double"):
            raise search_failure(illegal_argument(
                f"Field [{field.path}] of type [{field.type}] is not supported for aggregation [date_histogram]"),
                index.name)

    def key_for(field):
        if field.type == "date_nanos":
            return lambda ns: bucket_of(ns // dates.NS_PER_MS)
        return lambda v: bucket_of(int(v))

    counts, buckets = _collect(members, key_for, bool(subs))

    def bound_ms(raw, round_up=False):
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return int(raw)
        try:
            ns = dates.parse_math(raw, fmt, round_up, ctx.now_ns, tz)
        except dates.DateParseError:
            raise EsError(400, "parse_exception", f"failed to parse date field [{raw}] with format [{fmt.spec}]") \
                from None
        return ns // dates.NS_PER_MS

    hard = params.get("hard_bounds")
    hard_lo = hard_hi = None
    if hard:
        hard_lo = bound_ms(hard["min"]) if hard.get("min") is not None else None
        hard_hi = bound_ms(hard["max"], True) if hard.get("max") is not None else None
    keys = sorted(counts)
    if min_doc_count == 0:
        ext = params.get("extended_bounds")
        lo = keys[0] if keys else None
        hi = keys[-1] if keys else None
        if ext:
            if ext.get("min") is not None:
                k = bucket_of(bound_ms(ext["min"]))
                lo = k if lo is None else min(lo, k)
            if ext.get("max") is not None:
                k = bucket_of(bound_ms(ext["max"], True))
                hi = k if hi is None else max(hi, k)
        if hard_lo is not None and lo is not None:
            lo = max(lo, bucket_of(hard_lo))
        if hard_hi is not None and hi is not None:
            hi = min(hi, bucket_of(hard_hi))
        keys = []
        if lo is not None and hi is not None:
            k = lo
            while k <= hi:
                keys.append(k)
                if len(keys) + ctx.buckets > MAX_BUCKETS:
                    raise _too_many(len(keys) + ctx.buckets)
                k = next_key(k)
    else:
        keys = [k for k in keys if counts[k] >= min_doc_count]
    if hard_lo is not None:
        keys = [k for k in keys if next_key(k) > hard_lo]
    if hard_hi is not None:
        keys = [k for k in keys if k <= hard_hi]
    ctx.buckets += len(keys)
    if ctx.buckets > MAX_BUCKETS:
        raise _too_many(ctx.buckets)
    if order_key == "_count":
        keys.sort()
        keys.sort(key=lambda k: counts.get(k, 0), reverse=order_desc)
    elif order_desc:
        keys.reverse()
    out_buckets = []
    for key in keys:
        bucket = {"key_as_string": fmt.format(key * dates.NS_PER_MS, tz), "key": key,
                  "doc_count": counts.get(key, 0)}
        if subs:
            bucket.update(_sub_aggs(subs, members, buckets.get(key), ctx))
        out_buckets.append(bucket)
    if keyed:
        return {"buckets": {b["key_as_string"]: b for b in out_buckets}}
    return {"buckets": out_buckets}


def _too_many(n: int) -> EsError:
    return EsError(400, "too_many_buckets_exception",
                   f"Trying to create too many buckets. Must be less than or equal to: [{MAX_BUCKETS}] but this "
                   f"number of buckets was exceeded. This limit can be set by changing the [search.max_buckets] "
                   f"cluster level setting.", max_buckets=MAX_BUCKETS)


def _parse_order(raw, default: tuple[str, bool]) -> tuple[str, bool]:
    if raw is None:
        return default
    if isinstance(raw, list):
        if len(raw) != 1:
            raise unsupported("ordering buckets by more than one criterion")
        raw = raw[0]
    if not isinstance(raw, dict) or len(raw) != 1:
        raise parsing("[order] must be an object with one key")
    key, direction = next(iter(raw.items()))
    if key not in ("_key", "_count"):
        raise unsupported(f"ordering buckets by [{key}]")
    direction = str(direction).lower()
    if direction not in ("asc", "desc"):
        raise illegal_argument(f"Unknown order direction [{direction}]")
    return key, direction == "desc"


# --- terms ------------------------------------------------------------------------------------------------------------

_TERMS_PARAMS = {"field", "size", "min_doc_count", "order", "shard_size", "show_term_doc_count_error",
                 "execution_hint", "collect_mode", "script", "missing", "include", "exclude", "format",
                 "shard_min_doc_count", "value_type"}


def _terms(name: str, params: dict, subs, groups, ctx: _Ctx) -> dict:
    for key in params:
        if key not in _TERMS_PARAMS:
            raise parsing(f"[terms] unknown field [{key}]")
    for key in ("include", "exclude", "value_type", "format", "show_term_doc_count_error", "shard_min_doc_count"):
        if params.get(key) is not None:
            raise unsupported(f"[{key}] in a terms aggregation")
    size = int(params.get("size", 10))
    if size <= 0:
        raise illegal_argument(f"[size] must be greater than 0. Found [{size}] in [{name}]")
    min_doc_count = int(params.get("min_doc_count", 1))
    if min_doc_count < 0:
        raise illegal_argument(f"[min_doc_count] must be greater than or equal to 0. Found [{min_doc_count}] in "
                               f"[{name}]")
    order_key, order_desc = _parse_order(params.get("order"), default=("_count", True))
    members = _fields(params, groups)
    field0 = members[0][1] if members else None
    counts, docs = _collect(members, lambda field: None, bool(subs))
    if min_doc_count == 0:
        for index, field, _ in members:  # the whole index, not just the matches: what ES does
            for value in index.values_of(field.path):
                counts.setdefault(value, 0)
    keys = [k for k in counts if counts[k] >= min_doc_count]
    keys.sort()
    if order_key == "_count":
        keys.sort(key=lambda k: counts[k], reverse=order_desc)
    elif order_desc:
        keys.reverse()
    chosen = keys[:size]
    other = sum(counts[k] for k in keys[size:])
    ctx.buckets += len(chosen)
    if ctx.buckets > MAX_BUCKETS:
        raise _too_many(ctx.buckets)
    out = []
    for key in chosen:
        bucket: dict[str, Any] = {"key": key}
        if field0 is not None and field0.type == "boolean":
            bucket = {"key": 1 if key else 0, "key_as_string": "true" if key else "false"}
        elif field0 is not None and field0.type == "date_nanos":
            bucket = {"key": key // dates.NS_PER_MS, "key_as_string": field0.fmt.format(key)}
        bucket["doc_count"] = counts[key]
        if subs:
            bucket.update(_sub_aggs(subs, members, docs.get(key), ctx))
        out.append(bucket)
    return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": out}
