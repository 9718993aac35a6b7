"""Search: the query DSL subset, matching with postings and sorted columns, sorting, paging, ``_source``.

Queries: ``bool`` (must, filter, should + minimum_should_match, must_not), ``term``, ``terms``, ``range``
(with date ``format``, ``time_zone`` offsets and date math), ``match_all``, ``match_none``, ``exists``,
``ids``, ``match`` (text analysed as lowercase word tokens), ``prefix``, ``wildcard``, ``constant_score``.
Anything else is refused with a 400 naming it.

Scoring is not BM25: a matching scoring clause contributes its ``boost`` (default 1.0), filter context
contributes 0. Results are exact; only the order of unsorted hits with different relevance can differ
from a real cluster, so sort explicitly where order matters (the platform always does).
"""

from __future__ import annotations

import heapq
import re
import time
from bisect import bisect_left, bisect_right
from typing import Any, Callable

import orjson

from . import dates
from .aggs import run_aggs
from .errors import EsError, illegal_argument, parsing, query_shard, search_failure, unsupported
from .indices import Index, Store, glob_regex
from .mapping import LONG_MAX, LONG_MIN, Field, tokenize

_KNOWN_UNSUPPORTED = {
    "query_string", "simple_query_string", "match_phrase", "match_phrase_prefix", "multi_match", "nested",
    "has_child", "has_parent", "parent_id", "fuzzy", "regexp", "geo_distance", "geo_bounding_box", "geo_shape",
    "geo_polygon", "script", "script_score", "function_score", "dis_max", "boosting", "more_like_this",
    "terms_set", "intervals", "distance_feature", "percolate", "rank_feature", "wrapper", "pinned", "span_term",
    "span_near", "span_or", "span_not", "span_first", "span_multi", "span_containing", "span_within",
    "field_masking_span", "combined_fields", "knn", "sparse_vector", "semantic", "match_bool_prefix", "shape",
    "text_expansion", "weighted_tokens", "rule",
}
_BODY_UNSUPPORTED = {
    "post_filter", "highlight", "collapse", "script_fields", "docvalue_fields", "fields", "runtime_mappings", "pit",
    "suggest", "rescore", "indices_boost", "stats", "slice", "knn", "rank", "retriever", "terminate_after", "ext",
    "min_score", "stored_fields", "point_in_time",
}
_BODY_KEYS = {"query", "size", "from", "sort", "search_after", "track_total_hits", "_source", "aggs",
              "aggregations", "timeout", "version", "seq_no_primary_term", "track_scores", "explain", "profile"}


# --- compiled query nodes -------------------------------------------------------------------------------------
#
# Each node answers pred(doc) -> bool; estimate() -> cost of enumerating its matches (None = cannot);
# enum() -> (doc numbers, order) listing exactly its matches, where order is "doc" (ascending doc number),
# ("field", path) (ascending field value, ties by doc number) or None (no order); score(doc) and const
# (the score every match gets, or None when scores vary).


class Node:
    const: float | None = 1.0
    order_path: str | None = None  # the field enum() lists its matches in ascending order of, if any

    def estimate(self) -> int | None:
        return None

    def enum(self, prefer: str | None = None):
        raise NotImplementedError

    def docset(self, limit: int) -> set[int] | None:
        """The matching doc numbers as a set, when that costs at most about ``limit`` element copies."""
        return None

    def pred(self, doc) -> bool:
        raise NotImplementedError

    def score(self, doc) -> float:
        return self.const or 0.0


class MatchAll(Node):
    def __init__(self, index: Index, boost: float):
        self.index = index
        self.const = boost

    def estimate(self):
        return len(self.index.docs)

    def enum(self, prefer=None):
        if prefer is not None:
            col = self.index.column(prefer)
            # When every document has exactly one value, the column lists all of them in sort order.
            if col is not None and not col.multi and len(col.keys) - col.dead == len(self.index.docs):
                return col.docnums(0, len(col.keys), self.index.slots), ("field", prefer)
        return self.index.live_docnums(), "doc"

    def pred(self, doc):
        return True


class MatchNone(Node):
    def __init__(self, boost: float = 1.0):
        self.const = boost

    def estimate(self):
        return 0

    def enum(self, prefer=None):
        return [], "doc"

    def pred(self, doc):
        return False


class PostingTerms(Node):
    """Exact values of a keyword, boolean or text field, looked up in its postings."""

    def __init__(self, index: Index, path: str, values: set, boost: float):
        self.post = index.postings.get(path, {})
        self.path = path
        self.values = values
        self.const = boost

    def estimate(self):
        return sum(len(self.post.get(v, ())) for v in self.values)

    def enum(self, prefer=None):
        sets = [self.post[v] for v in self.values if v in self.post]
        if not sets:
            return [], "doc"
        if len(sets) == 1:
            return list(sets[0]), None
        return list(set().union(*sets)), None

    def docset(self, limit):
        sets = [self.post[v] for v in self.values if v in self.post]
        if len(sets) <= 1:
            return sets[0] if sets else set()
        if sum(len(x) for x in sets) > limit:
            return None
        return set().union(*sets)

    def pred(self, doc):
        return _any_value(doc, self.path, self.values.__contains__)


class PostingScan(Node):
    """Values of a postings field chosen by a test on the value (range, prefix, wildcard, case-insensitive)."""

    def __init__(self, index: Index, path: str, test: Callable[[Any], bool], boost: float):
        self.post = index.postings.get(path, {})
        self.path = path
        self.test = test
        self.const = boost
        self._keys: list | None = None

    def keys(self):
        if self._keys is None:
            self._keys = [k for k in self.post if self.test(k)]
        return self._keys

    def estimate(self):
        return sum(len(self.post[k]) for k in self.keys())

    def enum(self, prefer=None):
        sets = [self.post[k] for k in self.keys()]
        if not sets:
            return [], "doc"
        return list(set().union(*sets)), None

    def pred(self, doc):
        return _any_value(doc, self.path, self.test)


class ColumnRange(Node):
    """A range (or an exact value) of a numeric or date field, answered from its sorted column."""

    def __init__(self, index: Index, path: str, lo, lo_inc: bool, hi, hi_inc: bool, boost: float):
        self.index = index
        self.path = path
        self.lo, self.lo_inc, self.hi, self.hi_inc = lo, lo_inc, hi, hi_inc
        self.const = boost
        self.order_path = path
        self._span: tuple[int, int] | None = None

    def _slice(self):
        if self._span is None:
            col = self.index.column(self.path)
            self._span = (0, 0) if col is None else col.slice(self.lo, self.lo_inc, self.hi, self.hi_inc)
        return self._span

    def estimate(self):
        i, j = self._slice()
        return j - i

    def enum(self, prefer=None):
        i, j = self._slice()
        col = self.index.columns.get(self.path)
        if col is None:
            return [], "doc"
        return col.docnums(i, j, self.index.slots), (None if col.multi else ("field", self.path))

    def docset(self, limit):
        i, j = self._slice()
        if j - i > limit:
            return None
        col = self.index.columns.get(self.path)
        return set(col.nums[i:j]) if col is not None else set()

    def test(self, v) -> bool:
        lo, hi = self.lo, self.hi
        if lo is not None and (v < lo if self.lo_inc else v <= lo):
            return False
        if hi is not None and (v > hi if self.hi_inc else v >= hi):
            return False
        return True

    def pred(self, doc):
        return _any_value(doc, self.path, self.test)


class ColumnTerms(Node):
    def __init__(self, index: Index, path: str, values: list, boost: float):
        self.parts = [ColumnRange(index, path, v, True, v, True, boost) for v in values]
        self.path = path
        self.values = set(values)
        self.const = boost

    def estimate(self):
        return sum(p.estimate() for p in self.parts)

    def enum(self, prefer=None):
        nums: list[int] = []
        for p in self.parts:
            nums.extend(p.enum()[0])
        return list(dict.fromkeys(nums)), None

    def pred(self, doc):
        return _any_value(doc, self.path, self.values.__contains__)


class Exists(Node):
    def __init__(self, paths: list[str], boost: float):
        self.paths = paths
        self.const = boost

    def pred(self, doc):
        values = doc.values
        return any(p in values for p in self.paths)


class Ids(Node):
    def __init__(self, index: Index, ids: set[str], boost: float):
        self.index = index
        self.ids = ids
        self.const = boost

    def estimate(self):
        return len(self.ids)

    def enum(self, prefer=None):
        docs = self.index.docs
        return sorted(docs[i].num for i in self.ids if i in docs), "doc"

    def docset(self, limit):
        docs = self.index.docs
        return {docs[i].num for i in self.ids if i in docs}

    def pred(self, doc):
        return doc.id in self.ids


class Bool(Node):
    def __init__(self, index: Index, must, filter_, should, must_not, msm: int, boost: float):
        self.index = index
        self.must, self.filter, self.should, self.must_not = must, filter_, should, must_not
        self.msm = msm
        self.boost = boost
        if should and msm < len(should):
            self.const = None
        elif any(c.const is None for c in must + should):
            self.const = None
        else:
            self.const = (sum(c.const for c in must) + sum(c.const for c in should)) * boost

    def _driver(self, prefer: str | None = None):
        """Pick the cheapest clause to enumerate; one already ordered by the sort field wins if not much dearer."""
        costs = [(child, child.estimate()) for child in self.must + self.filter]
        costs = [(child, cost) for child, cost in costs if cost is not None]
        if not costs:
            return None, None
        best, best_cost = min(costs, key=lambda pair: pair[1])
        if prefer is not None:
            for child, cost in costs:
                # An ordered driver saves the sort and lets paging stop early; membership checks stay cheap.
                if child.order_path == prefer and cost <= 8 * best_cost + 1000:
                    return child, cost
        return best, best_cost

    def estimate(self):
        driver, cost = self._driver()
        if driver is not None:
            return cost
        if self.should and self.msm >= 1 and not self.must and not self.filter:
            costs = [c.estimate() for c in self.should]
            if all(c is not None for c in costs):
                return sum(costs)
        return None

    def enum(self, prefer=None):
        driver, _ = self._driver(prefer)
        if driver is not None:
            nums, order = driver.enum(prefer)
            checks = [c for c in self.must + self.filter if c is not driver]
        else:
            sets = [c.enum()[0] for c in self.should]
            nums, order = list(dict.fromkeys(n for s in sets for n in s)), None
            checks = [c for c in self.must + self.filter]
        return self._filter(nums, checks), order

    def _filter(self, nums, checks):
        must_not = self.must_not
        should = self.should
        msm = self.msm
        if not checks and not must_not and (not should or msm == 0):
            return nums
        rest = []
        for c in checks:
            # A set test on doc numbers costs far less than fetching each doc and testing its value.
            members = c.docset(10 * len(nums) + 1000)
            if members is None:
                rest.append(c)
            else:
                nums = [n for n in nums if n in members]
        checks = rest
        if not checks and not must_not and (not should or msm == 0):
            return nums
        slots = self.index.slots
        out = []
        append = out.append
        for n in nums:
            doc = slots[n]
            if doc is None:
                continue
            ok = True
            for c in checks:
                if not c.pred(doc):
                    ok = False
                    break
            if not ok:
                continue
            if must_not and any(c.pred(doc) for c in must_not):
                continue
            if msm and sum(1 for c in should if c.pred(doc)) < msm:
                continue
            append(n)
        return out

    def pred(self, doc):
        for c in self.must:
            if not c.pred(doc):
                return False
        for c in self.filter:
            if not c.pred(doc):
                return False
        for c in self.must_not:
            if c.pred(doc):
                return False
        if self.msm and sum(1 for c in self.should if c.pred(doc)) < self.msm:
            return False
        return True

    def score(self, doc):
        total = sum(c.score(doc) for c in self.must)
        total += sum(c.score(doc) for c in self.should if c.pred(doc))
        return total * self.boost


class ConstantScore(Node):
    def __init__(self, inner: Node, boost: float):
        self.inner = inner
        self.const = boost
        self.order_path = inner.order_path

    def estimate(self):
        return self.inner.estimate()

    def enum(self, prefer=None):
        return self.inner.enum(prefer)

    def docset(self, limit):
        return self.inner.docset(limit)

    def pred(self, doc):
        return self.inner.pred(doc)


# --- compiling the DSL -----------------------------------------------------------------------------------------


class Compiler:
    """Turns the query JSON into nodes bound to one index."""

    def __init__(self, index: Index, now_ns: int):
        self.index = index
        self.mapping = index.mapping
        self.now_ns = now_ns

    def compile(self, query: Any) -> Node:
        if query is None:
            return MatchAll(self.index, 1.0)
        if not isinstance(query, dict) or len(query) != 1:
            if isinstance(query, dict) and not query:
                raise parsing("query malformed, empty clause found")
            raise parsing("[_na] query malformed, no start_object after query name" if not isinstance(query, dict)
                          else f"[{list(query)[0]}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
        kind, spec = next(iter(query.items()))
        method = getattr(self, "q_" + kind, None)
        if method is None:
            if kind in _KNOWN_UNSUPPORTED:
                raise unsupported(f"the [{kind}] query")
            raise parsing(f"unknown query [{kind}]", line=1, col=1)
        return method(spec)

    # helpers

    def _boost(self, spec: dict, kind: str, allowed: set[str]) -> float:
        for key in spec:
            if key == "_name":
                raise unsupported(f"named queries ([_name] in [{kind}])")
            if key not in allowed and key != "boost":
                raise parsing(f"[{kind}] query does not support [{key}]")
        boost = spec.get("boost", 1.0)
        if not isinstance(boost, (int, float)) or isinstance(boost, bool):
            raise parsing(f"[{kind}] query: [boost] must be a number")
        return float(boost)

    def _field_spec(self, spec: Any, kind: str, value_key: str) -> tuple[str, dict]:
        """Split ``{field: value}`` / ``{field: {value_key: v, ...}}`` into the field and its options."""
        if not isinstance(spec, dict):
            raise parsing(f"[{kind}] query malformed, no start_object after query name")
        fields = [k for k in spec if k not in ("boost", "_name")]
        if len(fields) != 1:
            if not fields:
                raise illegal_argument(f"[{kind}] query requires a field")
            raise parsing(f"[{kind}] query doesn't support multiple fields, found [{fields[0]}] and [{fields[1]}]")
        path = fields[0]
        opts = spec[path]
        if not isinstance(opts, dict):
            opts = {value_key: opts}
        else:
            opts = dict(opts)
        for k in ("boost", "_name"):
            if k in spec:
                opts.setdefault(k, spec[k])
        return path, opts

    def _field(self, path: str) -> Field | None:
        return self.mapping.field(path)

    def _date_value(self, field: Field, raw, round_up: bool, fmt_spec: str | None = None, tz: str | None = None):
        fmt = dates.get_format(fmt_spec) if fmt_spec else field.fmt
        offset = dates.parse_offset(tz) if tz else 0
        try:
            ns = dates.parse_math(raw, fmt, round_up, self.now_ns, offset)
        except dates.DateParseError:
            raise query_shard(f"failed to create query: failed to parse date field [{raw}] with format "
                              f"[{fmt.spec}]", self.index.name) from None
        if field.type == "date_nanos":
            return max(ns, 0)
        return ns // dates.NS_PER_MS

    def _exact(self, field: Field, raw, boost: float, case_insensitive: bool = False) -> Node:
        kind = field.kind
        index = self.index
        if kind == "keyword":
            value = field.query_value(raw, index.name)
            if case_insensitive:
                low = value.lower()
                return PostingScan(index, field.path, lambda k: k.lower() == low, boost)
            return PostingTerms(index, field.path, {value}, boost)
        if kind == "text":
            return PostingTerms(index, field.path, {raw if isinstance(raw, str) else str(raw)}, boost)
        if kind == "boolean":
            return PostingTerms(index, field.path, {field.query_value(raw, index.name)}, boost)
        if kind in ("date", "date_nanos"):
            lo = self._date_value(field, raw, False)
            hi = self._date_value(field, raw, True)
            return ColumnRange(index, field.path, lo, True, hi, True, boost)
        value = field.query_value(raw, index.name)
        if kind == "long" and isinstance(value, float):
            if value != int(value):
                return MatchNone(boost)
            value = int(value)
        return ColumnRange(index, field.path, value, True, value, True, boost)

    def _meta_field(self, path: str, values: list, boost: float) -> Node | None:
        if path == "_id":
            return Ids(self.index, {str(v) for v in values}, boost)
        if path == "_index":
            return MatchAll(self.index, boost) if self.index.name in {str(v) for v in values} else MatchNone(boost)
        return None

    # queries

    def q_match_all(self, spec):
        return MatchAll(self.index, self._boost(spec or {}, "match_all", set()))

    def q_match_none(self, spec):
        return MatchNone(self._boost(spec or {}, "match_none", set()))

    def q_term(self, spec):
        path, opts = self._field_spec(spec, "term", "value")
        boost = self._boost(opts, "term", {"value", "case_insensitive"})
        if "value" not in opts:
            raise parsing("[term] query does not support [" + path + "] without a value")
        raw = opts["value"]
        if raw is None or isinstance(raw, (dict, list)):
            raise parsing("[term] query value must be a single value" if raw is not None else "value cannot be null")
        meta = self._meta_field(path, [raw], boost)
        if meta is not None:
            return meta
        field = self._field(path)
        if field is None:
            return MatchNone(boost)
        return self._exact(field, raw, boost, bool(opts.get("case_insensitive")))

    def q_terms(self, spec):
        if not isinstance(spec, dict):
            raise parsing("[terms] query malformed")
        boost = self._boost({k: v for k, v in spec.items() if k in ("boost", "_name")}, "terms", set())
        fields = [k for k in spec if k not in ("boost", "_name")]
        if len(fields) != 1:
            raise parsing("[terms] query does not support multiple fields" if fields else
                          "[terms] query requires a field")
        path = fields[0]
        values = spec[path]
        if isinstance(values, dict):
            raise unsupported("terms lookup (an object value in [terms])")
        if not isinstance(values, list):
            raise parsing(f"[terms] query does not support [{path}]")
        if len(values) > 65536:
            raise illegal_argument(f"The number of terms [{len(values)}] used in the Terms Query request has exceeded "
                                   f"the allowed maximum of [65536].")
        meta = self._meta_field(path, values, boost)
        if meta is not None:
            return meta
        field = self._field(path)
        if field is None or not values:
            return MatchNone(boost)
        if field.kind in ("keyword", "boolean", "text"):
            conv = (lambda v: v if isinstance(v, str) else str(v)) if field.kind == "text" else (
                lambda v: field.query_value(v, self.index.name))
            return PostingTerms(self.index, path, {conv(v) for v in values}, boost)
        if field.kind in ("date", "date_nanos"):
            return Bool(self.index, [], [], [self._exact(field, v, boost) for v in values], [], 1, 1.0)
        converted = []
        for v in values:
            q = field.query_value(v, self.index.name)
            if field.kind == "long" and isinstance(q, float):
                if q != int(q):
                    continue
                q = int(q)
            converted.append(q)
        return ColumnTerms(self.index, path, converted, boost)

    def q_range(self, spec):
        path, opts = self._field_spec(spec, "range", "_invalid")
        if "_invalid" in opts:
            raise parsing("[range] query malformed, no start_object after query name")
        allowed = {"gt", "gte", "lt", "lte", "from", "to", "include_lower", "include_upper", "format", "time_zone",
                   "relation"}
        boost = self._boost(opts, "range", allowed)
        if opts.get("relation") not in (None, "intersects", "INTERSECTS"):
            raise unsupported(f"range [relation: {opts['relation']}]")
        lo, lo_inc, hi, hi_inc = None, True, None, True
        if "from" in opts:
            lo, lo_inc = opts["from"], bool(opts.get("include_lower", True))
        if "to" in opts:
            hi, hi_inc = opts["to"], bool(opts.get("include_upper", True))
        if opts.get("gte") is not None:
            lo, lo_inc = opts["gte"], True
        if opts.get("gt") is not None:
            lo, lo_inc = opts["gt"], False
        if opts.get("lte") is not None:
            hi, hi_inc = opts["lte"], True
        if opts.get("lt") is not None:
            hi, hi_inc = opts["lt"], False
        field = self._field(path)
        if path in ("_id", "_index"):
            raise unsupported(f"range on [{path}]")
        if field is None:
            return MatchNone(boost)
        if opts.get("format") and field.kind not in ("date", "date_nanos"):
            raise query_shard(f"Field [{path}] of type [{field.type}] does not support custom formats",
                              self.index.name)
        if opts.get("time_zone") and field.kind not in ("date", "date_nanos"):
            raise query_shard(f"Field [{path}] of type [{field.type}] does not support custom time zones",
                              self.index.name)
        if field.kind in ("date", "date_nanos"):
            fmt, tz = opts.get("format"), opts.get("time_zone")
            # ES rounds a partial date down for gte/lt and up for gt/lte (so lte "2024-01-01" covers the day).
            lo_v = None if lo is None else self._date_value(field, lo, not lo_inc, fmt, tz)
            hi_v = None if hi is None else self._date_value(field, hi, hi_inc, fmt, tz)
            return ColumnRange(self.index, path, lo_v, lo_inc, hi_v, hi_inc, boost)
        if field.kind in ("long", "double"):
            lo_v = None if lo is None else field.query_value(lo, self.index.name)
            hi_v = None if hi is None else field.query_value(hi, self.index.name)
            return ColumnRange(self.index, path, lo_v, lo_inc, hi_v, hi_inc, boost)
        conv = (lambda v: v if isinstance(v, str) else str(v)) if field.kind == "text" else (
            lambda v: field.query_value(v, self.index.name))
        lo_v = None if lo is None else conv(lo)
        hi_v = None if hi is None else conv(hi)
        checker = ColumnRange(self.index, path, lo_v, lo_inc, hi_v, hi_inc, boost)
        return PostingScan(self.index, path, checker.test, boost)

    def q_exists(self, spec):
        if not isinstance(spec, dict) or "field" not in spec:
            raise parsing("[exists] must be provided with a [field]")
        boost = self._boost(spec, "exists", {"field"})
        path = spec["field"]
        if path in ("_id", "_index", "_source"):
            return MatchAll(self.index, boost)
        if "*" in path:
            regex = glob_regex(path)
            paths = [p for p in self.mapping.fields if regex.match(p)]
        elif self.mapping.is_object(path):
            paths = self.mapping.fields_under(path)
        else:
            paths = [path] if self._field(path) is not None else []
        if not paths:
            return MatchNone(boost)
        return Exists(paths, boost)

    def q_ids(self, spec):
        if not isinstance(spec, dict) or not isinstance(spec.get("values", []), list):
            raise parsing("[ids] query malformed")
        boost = self._boost(spec, "ids", {"values"})
        return Ids(self.index, {str(v) for v in spec.get("values", [])}, boost)

    def q_match(self, spec):
        path, opts = self._field_spec(spec, "match", "query")
        boost = self._boost(opts, "match", {"query", "operator", "lenient", "zero_terms_query", "analyzer",
                                            "auto_generate_synonyms_phrase_query"})
        if opts.get("analyzer") not in (None, "standard"):
            raise unsupported(f"match [analyzer: {opts['analyzer']}]")
        if opts.get("zero_terms_query", "none") != "none":
            raise unsupported("match [zero_terms_query: all]")
        operator = str(opts.get("operator", "or")).lower()
        if operator not in ("or", "and"):
            raise illegal_argument(f"No enum constant for operator [{operator}]")
        raw = opts.get("query")
        if raw is None:
            raise parsing("No text specified for text query")
        field = self._field(path)
        if field is None:
            return MatchNone(boost)
        if field.kind == "text":
            tokens = tokenize(raw if isinstance(raw, str) else str(raw))
            if not tokens:
                return MatchNone(boost)
            parts = [PostingTerms(self.index, path, {t}, boost) for t in dict.fromkeys(tokens)]
            if len(parts) == 1:
                return parts[0]
            if operator == "and":
                return Bool(self.index, parts, [], [], [], 0, 1.0)
            return Bool(self.index, [], [], parts, [], 1, 1.0)
        try:
            return self._exact(field, raw, boost)
        except EsError:
            if str(opts.get("lenient", "false")).lower() == "true":
                return MatchNone(boost)
            raise

    def q_prefix(self, spec):
        path, opts = self._field_spec(spec, "prefix", "value")
        boost = self._boost(opts, "prefix", {"value", "case_insensitive", "rewrite"})
        field = self._field(path)
        value = opts.get("value")
        if field is None:
            return MatchNone(boost)
        if field.kind not in ("keyword", "text"):
            raise query_shard(f"Can only use prefix queries on keyword and text fields - not on [{path}] which is "
                              f"of type [{field.type}]", self.index.name)
        value = str(value)
        if opts.get("case_insensitive"):
            low = value.lower()
            return PostingScan(self.index, path, lambda k: k.lower().startswith(low), boost)
        return PostingScan(self.index, path, lambda k: k.startswith(value), boost)

    def q_wildcard(self, spec):
        path, opts = self._field_spec(spec, "wildcard", "value")
        boost = self._boost(opts, "wildcard", {"value", "wildcard", "case_insensitive", "rewrite"})
        field = self._field(path)
        pattern = opts.get("value", opts.get("wildcard"))
        if field is None:
            return MatchNone(boost)
        if field.kind not in ("keyword", "text"):
            raise query_shard(f"Can only use wildcard queries on keyword and text fields - not on [{path}] which "
                              f"is of type [{field.type}]", self.index.name)
        regex = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern)),
                           re.S | (re.I if opts.get("case_insensitive") else 0))
        return PostingScan(self.index, path, lambda k: regex.fullmatch(k) is not None, boost)

    def q_constant_score(self, spec):
        if not isinstance(spec, dict) or "filter" not in spec:
            raise parsing("[constant_score] requires a 'filter' element")
        boost = self._boost(spec, "constant_score", {"filter"})
        return ConstantScore(self.compile(spec["filter"]), boost)

    def q_bool(self, spec):
        if not isinstance(spec, dict):
            raise parsing("[bool] query malformed, no start_object after query name")
        boost = self._boost(spec, "bool", {"must", "filter", "should", "must_not", "minimum_should_match",
                                           "adjust_pure_negative"})
        clauses = {}
        for key in ("must", "filter", "should", "must_not"):
            value = spec.get(key) or []
            if isinstance(value, dict):
                value = [value]
            if not isinstance(value, list):
                raise parsing(f"[bool] query malformed: [{key}] must be an object or an array")
            clauses[key] = [self.compile(q) for q in value]
        should = clauses["should"]
        msm_raw = spec.get("minimum_should_match")
        if msm_raw is None:
            msm = 1 if should and not clauses["must"] and not clauses["filter"] else 0
        else:
            msm = _minimum_should_match(msm_raw, len(should))
        if should and msm > len(should):
            return MatchNone(boost)
        return Bool(self.index, clauses["must"], clauses["filter"], should, clauses["must_not"], msm, boost)


def _any_value(doc, path: str, test: Callable[[Any], bool]) -> bool:
    """Whether the document's value at ``path`` (one value or a tuple of them) passes ``test``."""
    v = doc.values.get(path)
    if v is None:
        return False
    if type(v) is tuple:
        return any(test(x) for x in v)
    return test(v)


def _minimum_should_match(raw, count: int) -> int:
    text = str(raw).strip()
    try:
        if text.endswith("%"):
            pct = int(text[:-1])
            n = int(count * abs(pct) / 100)
            result = n if pct >= 0 else count - n
        else:
            n = int(text)
            result = n if n >= 0 else count + n
    except ValueError:
        raise unsupported(f"minimum_should_match [{raw}]") from None
    return max(0, result)


def matching(index: Index, node: Node, prefer: str | None = None) -> tuple[list[int], Any]:
    """Return the doc numbers matching ``node`` in ``index`` and their order (see Node).

    ``prefer`` names the primary sort field, so a clause already ordered by it may drive the match.
    """
    if node.estimate() is not None:
        return node.enum(prefer)
    slots = index.slots
    pred = node.pred
    return [d.num for d in slots if d is not None and pred(d)], "doc"


def compile_for(index: Index, query: Any, now_ns: int) -> Node:
    return Compiler(index, now_ns).compile(query)


def validate_query(query: Any, now_ns: int) -> None:
    """Compile against an empty index so malformed queries fail even when no index matched."""
    from .indices import Index as _Index
    from .mapping import Mapping
    Compiler(_Index("_validation", {}, Mapping()), now_ns).compile(query)


# --- _source filtering -------------------------------------------------------------------------------------------


class SourceFilter:
    def __init__(self, enabled: bool = True, includes: list[str] | None = None, excludes: list[str] | None = None):
        self.enabled = enabled
        self.includes = [glob_regex(p) for p in includes or []]
        self.excludes = [glob_regex(p) for p in excludes or []]

    @property
    def passthrough(self) -> bool:
        return self.enabled and not self.includes and not self.excludes


def parse_source_filter(body_value: Any, params: dict) -> SourceFilter:
    spec = body_value
    if "_source" in params:
        text = params["_source"]
        spec = True if text in ("", "true") else False if text == "false" else text.split(",")
    includes = excludes = None
    enabled = True
    if spec is None or spec is True:
        pass
    elif spec is False:
        enabled = False
    elif isinstance(spec, str):
        includes = [spec]
    elif isinstance(spec, list):
        includes = [str(s) for s in spec]
    elif isinstance(spec, dict):
        extra = set(spec) - {"includes", "excludes", "include", "exclude"}
        if extra:
            raise parsing(f"Unknown key for a START_OBJECT in [_source]: [{sorted(extra)[0]}]")
        inc = spec.get("includes", spec.get("include"))
        exc = spec.get("excludes", spec.get("exclude"))
        includes = [inc] if isinstance(inc, str) else inc
        excludes = [exc] if isinstance(exc, str) else exc
    else:
        raise parsing("[_source] must be a boolean, a string, an array or an object")
    if "_source_includes" in params:
        includes = params["_source_includes"].split(",")
        enabled = True
    if "_source_excludes" in params:
        excludes = params["_source_excludes"].split(",")
        enabled = True
    return SourceFilter(enabled, includes, excludes)


def filter_source(source: bytes, spec: SourceFilter | None):
    """Return the ``_source`` to send: raw bytes untouched when unfiltered, None when disabled."""
    if spec is None or spec.passthrough:
        return orjson.Fragment(source)
    if not spec.enabled:
        return None
    return _filter_obj(orjson.loads(source), "", spec.includes, spec.excludes)


def _filter_obj(obj: dict, prefix: str, inc: list, exc: list) -> dict:
    out = {}
    for key, value in obj.items():
        path = prefix + key
        if exc and any(r.match(path) for r in exc):
            continue
        if not inc or any(r.match(path) for r in inc):
            out[key] = _filter_value(value, path, [], exc) if exc else value
            continue
        sub = _filter_value(value, path, inc, exc)
        if sub is not _DROP:
            out[key] = sub
    return out


_DROP = object()


def _filter_value(value, path: str, inc: list, exc: list):
    if isinstance(value, dict):
        sub = _filter_obj(value, path + ".", inc, exc)
        return sub if (sub or not inc) else _DROP
    if isinstance(value, list):
        items = [_filter_value(v, path, inc, exc) for v in value]
        items = [v for v in items if v is not _DROP]
        return items if (items or not inc) else _DROP
    return value if not inc else _DROP


# --- sorting --------------------------------------------------------------------------------------------------------


class SortSpec:
    def __init__(self, kind: str, path: str | None, desc: bool, missing: Any = "_last",
                 unmapped_type: str | None = None, fmt: str | None = None, mode: str | None = None):
        self.kind = kind
        self.path = path
        self.desc = desc
        self.missing = missing
        self.unmapped_type = unmapped_type
        self.fmt = fmt
        self.mode = mode


_SORT_OPTS = {"order", "missing", "unmapped_type", "format", "mode", "numeric_type"}


def parse_sort(raw: Any) -> list[SortSpec]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    specs = []
    for item in items:
        if isinstance(item, str):
            name, _, order = item.partition(":")
            specs.append(_sort_spec(name, {"order": order} if order else {}))
        elif isinstance(item, dict) and len(item) == 1:
            name, opts = next(iter(item.items()))
            if isinstance(opts, str):
                opts = {"order": opts}
            if not isinstance(opts, dict):
                raise parsing(f"[sort] malformed for [{name}]")
            specs.append(_sort_spec(name, opts))
        else:
            raise parsing("[sort] must be a field name, an object with one field, or an array of these")
    return specs


def _sort_spec(name: str, opts: dict) -> SortSpec:
    for key in opts:
        if key == "nested" or key == "nested_path" or key == "nested_filter":
            raise unsupported("nested sorting")
        if key not in _SORT_OPTS:
            raise parsing(f"[field_sort] unknown field [{key}]")
    order = str(opts.get("order") or ("desc" if name == "_score" else "asc")).lower()
    if order not in ("asc", "desc"):
        raise illegal_argument(f"Unknown SortOrder [{order}]")
    if name == "_id":
        raise illegal_argument("Fielddata access on the _id field is disallowed, you can re-enable it by updating "
                               "the dynamic cluster setting: indices.id_field_data.enabled")
    mode = opts.get("mode")
    if mode not in (None, "min", "max"):
        raise unsupported(f"sort [mode: {mode}]")
    if opts.get("numeric_type") is not None:
        raise unsupported("sort [numeric_type]")
    if name in ("_score", "_doc"):
        return SortSpec(name[1:], None, order == "desc")
    return SortSpec("field", name, order == "desc", opts.get("missing", "_last"), opts.get("unmapped_type"),
                    opts.get("format"), mode)


class BoundSort:
    """A sort spec bound to one index: key functions on docs and the sort values to emit."""

    def __init__(self, spec: SortSpec, index: Index):
        self.spec = spec
        self.field: Field | None = None
        self.unmapped = False
        self.fmt = None
        if spec.kind != "field":
            return
        field = index.mapping.field(spec.path)
        if field is None:
            if spec.unmapped_type is None:
                raise query_shard(f"No mapping found for [{spec.path}] in order to sort on", index.name)
            self.unmapped = True
            return
        if field.kind == "text":
            raise search_failure(illegal_argument(
                f"Fielddata is disabled on [{spec.path}] in [{index.name}]. Text fields are not optimised for "
                f"operations that require per-document field data like aggregations and sorting, so these "
                f"operations are disabled by default. Please use a keyword field instead."), index.name)
        self.field = field
        if spec.fmt is not None:
            if field.kind not in ("date", "date_nanos"):
                raise search_failure(illegal_argument(f"Field [{spec.path}] of type [{field.type}] does not support "
                                                      f"custom formats"), index.name)
            self.fmt = dates.get_format(spec.fmt)
        self.missing_key = self._missing_key(index)

    def _missing_key(self, index: Index):
        missing = self.spec.missing
        if missing in (None, "_last"):
            return (0 if self.spec.desc else 2, None)
        if missing == "_first":
            return (2 if self.spec.desc else 0, None)
        return (1, self.field.query_value(missing, index.name))

    def key(self, doc):
        spec = self.spec
        if spec.kind == "doc":
            return (1, doc.num)
        if self.unmapped:
            return (0 if spec.desc else 2, None)
        v = doc.values.get(spec.path)
        if v is None:
            return self.missing_key
        if type(v) is tuple:
            use_max = spec.mode == "max" or (spec.mode is None and spec.desc)
            v = max(v) if use_max else min(v)
        return (1, v)

    def emit(self, key):
        """Return the JSON sort value for a key (ES writes Long.MAX/MIN_VALUE etc. for missing values)."""
        flag, v = key
        spec = self.spec
        if spec.kind != "field":
            return v
        field = self.field
        if v is None:
            if field is None or field.kind in ("keyword",):
                return None
            high = flag == 2
            if field.kind == "double":
                return "Infinity" if high else "-Infinity"
            if field.type == "date_nanos" and not high:
                return 0
            return LONG_MAX if high else LONG_MIN
        if self.fmt is not None:
            return self.fmt.format(v * field.time_unit_ns)
        return field.sort_out(v)

    def after_key(self, raw, index: Index):
        """Turn a ``search_after`` value into a key comparable with key()."""
        spec = self.spec
        if spec.kind == "score":
            return (1, float(raw))
        if spec.kind == "doc":
            return (1, int(raw))
        if self.unmapped or raw is None:
            return (0 if spec.desc else 2, None)
        field = self.field
        if raw in (LONG_MAX, "Infinity") and field.kind != "keyword":
            return (2, None) if self.missing_key[0] == 2 else (1, raw)
        if raw in (LONG_MIN, "-Infinity") and field.kind != "keyword":
            return (0, None) if self.missing_key[0] == 0 else (1, raw)
        if field.kind in ("date", "date_nanos"):
            if isinstance(raw, int) and not isinstance(raw, bool):
                return (1, raw)
            if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw):
                return (1, int(raw))
            fmt = self.fmt or field.fmt
            try:
                ns = fmt.parse(raw)
            except dates.DateParseError:
                raise search_failure(illegal_argument(f"Failed to parse search_after value for field "
                                                      f"[{spec.path}]."), index.name) from None
            return (1, ns // field.time_unit_ns)
        if field.kind == "boolean":
            return (1, bool(raw) if not isinstance(raw, str) else raw == "true")
        return (1, field.query_value(raw, index.name))


# --- search ----------------------------------------------------------------------------------------------------------


def _int_param(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise illegal_argument(f"Failed to parse int parameter [{name}] with value [{value}]") from None


def _target_opts(params: dict) -> dict:
    ew = params.get("expand_wildcards")
    if ew is not None and any(p not in ("open", "all", "closed", "hidden") for p in ew.split(",")):
        raise unsupported(f"expand_wildcards [{ew}]")
    return {"ignore_unavailable": params.get("ignore_unavailable", "false") in ("true", ""),
            "allow_no_indices": params.get("allow_no_indices", "true") in ("true", "")}


def search(store: Store, target: str | None, body: dict | None, params: dict) -> dict:
    """Run ``_search`` and return ES's response body."""
    started = time.perf_counter()
    body = body or {}
    if not isinstance(body, dict):
        raise parsing("request body must be an object")
    for key in body:
        if key in _BODY_UNSUPPORTED:
            raise unsupported(f"the search option [{key}]")
        if key not in _BODY_KEYS:
            raise parsing(f"Unknown key for a START_OBJECT in [{key}].", line=1, col=1)
    for flag in ("explain", "profile"):
        if body.get(flag):
            raise unsupported(f"the search option [{flag}]")
    if "q" in params:
        raise unsupported("the [q] URI search parameter")
    size = _int_param(params.get("size", body.get("size", 10)), "size")
    from_ = _int_param(params.get("from", body.get("from", 0)), "from")
    if size < 0:
        raise illegal_argument(f"[size] parameter cannot be negative, found [{size}]")
    if from_ < 0:
        raise illegal_argument(f"[from] parameter cannot be negative, found [{from_}]")
    sort_raw = params["sort"].split(",") if "sort" in params else body.get("sort")
    sorts = parse_sort(sort_raw)
    search_after = body.get("search_after")
    if search_after is not None:
        if not isinstance(search_after, list):
            raise parsing("[search_after] must be an array")
        if not sorts:
            raise illegal_argument("Sort must contain at least one field.")
        if len(search_after) != len(sorts):
            raise illegal_argument(f"search_after has {len(search_after)} value(s) but sort has {len(sorts)}.")
        if from_ not in (0, -1):
            raise illegal_argument("`from` parameter must be set to 0 when `search_after` is used.")
    track = params.get("track_total_hits", body.get("track_total_hits", 10000))
    if isinstance(track, str):
        track = True if track == "true" else False if track == "false" else _int_param(track, "track_total_hits")
    source_filter = parse_source_filter(body.get("_source"), params)
    track_scores = bool(body.get("track_scores")) or params.get("track_scores") == "true"
    want_version = bool(body.get("version")) or params.get("version") == "true"
    want_seq = bool(body.get("seq_no_primary_term")) or params.get("seq_no_primary_term") == "true"
    aggs_spec = body.get("aggs", body.get("aggregations"))
    now_ns = time.time_ns()
    with store.lock:
        indices = store.resolve(target, **_target_opts(params))
        if not indices:
            validate_query(body.get("query"), now_ns)
        window = min((i.max_result_window for i in indices), default=10000)
        if from_ + size > window:
            raise search_failure(illegal_argument(
                f"Result window is too large, from + size must be less than or equal to: [{window}] but was "
                f"[{from_ + size}]. See the scroll api for a more efficient way to request large data sets. This "
                f"limit can be set by changing the [index.max_result_window] index level setting."),
                indices[0].name if indices else "_all")
        per_index = []
        failures: list[tuple[Index, EsError]] = []
        total = 0
        prefer = sorts[0].path if sorts and sorts[0].kind == "field" and size else None
        sort_specs = sorts or [SortSpec("score", None, True)]
        for pos, index in enumerate(indices):
            try:
                node = compile_for(index, body.get("query"), now_ns)
                bound = [BoundSort(s, index) for s in sort_specs]
            except EsError as exc:
                if exc.status != 400 or exc.type not in ("search_phase_execution_exception",):
                    raise
                failures.append((index, exc))  # ES fails this shard only and answers with the others
                continue
            nums, order = matching(index, node, prefer)
            total += len(nums)
            per_index.append((pos, index, node, nums, order, bound))
        if failures and not per_index:
            raise failures[0][1]
        entries, max_score = _collect_hits(per_index, sorts, search_after, from_ + size, track_scores)
        page = entries[from_:from_ + size]
        hits = []
        for comps, score, pos, index, doc, bound in page:
            hit = {"_index": index.name, "_id": doc.id, "_score": score}
            if want_version:
                hit["_version"] = doc.version
            if want_seq:
                hit["_seq_no"] = doc.seq_no
                hit["_primary_term"] = 1
            source = filter_source(doc.source, source_filter)
            if source is not None:
                hit["_source"] = source
            if sorts:
                hit["sort"] = [b.emit(c) for b, c in zip(bound, comps)]
            hits.append(hit)
        aggregations = None
        if aggs_spec is not None:
            aggregations = run_aggs(aggs_spec, [(index, nums) for _, index, _, nums, _, _ in per_index], now_ns,
                                    typed_keys=params.get("typed_keys") == "true")
    hits_obj: dict[str, Any] = {}
    if track is not False:
        if params.get("rest_total_hits_as_int") == "true":
            hits_obj["total"] = total
        elif track is True or total <= track:
            hits_obj["total"] = {"value": total, "relation": "eq"}
        else:
            hits_obj["total"] = {"value": track, "relation": "gte"}
    hits_obj["max_score"] = max_score
    hits_obj["hits"] = hits
    response = {"took": int((time.perf_counter() - started) * 1000), "timed_out": False,
                "_shards": _shards(len(indices), failures), "hits": hits_obj}
    if aggregations is not None:
        response["aggregations"] = aggregations
    return response


def _shards(total: int, failures: list) -> dict:
    shards = {"total": total, "successful": total - len(failures), "skipped": 0, "failed": len(failures)}
    if failures:
        shards["failures"] = [{"shard": 0, "index": index.name, "node": "standin",
                               "reason": (exc.root_cause or exc).cause_dict()} for index, exc in failures]
    return shards


def _collect_hits(per_index, sorts: list[SortSpec], search_after, k: int, track_scores: bool):
    """Return the first ``k`` hits over all indices, in order, plus max_score."""
    sort_specs = sorts or [SortSpec("score", None, True)]
    sorted_by_score_only = not sorts
    need_scores = sorted_by_score_only or track_scores or any(s.kind == "score" for s in sorts)
    entries = []
    max_score = None
    for pos, index, node, nums, order, bound in per_index:
        slots = index.slots
        const = node.const
        scores: dict[int, float] | None = None
        if need_scores and nums:
            if const is not None:
                index_max = const
            else:
                scores = {n: node.score(slots[n]) for n in nums}
                index_max = max(scores.values())
            max_score = index_max if max_score is None else max(max_score, index_max)
        if k == 0 or not nums:
            continue

        def score_of(n, scores=scores, const=const):
            return scores[n] if scores is not None else (const or 0.0)

        keyfuncs = []
        for b in bound:
            if b.spec.kind == "score":
                keyfuncs.append(lambda n, f=score_of: (1, f(n)))
            else:
                keyfuncs.append(lambda n, f=b.key, s=slots: f(s[n]))
        single = len(bound) == 1
        ordered_here = (single and order == ("field", bound[0].spec.path) and bound[0].spec.kind == "field"
                        and bound[0].spec.mode is None)
        if order is None or (order != "doc" and not ordered_here):
            nums = sorted(nums)
        if sorted_by_score_only and const is not None:
            chosen = nums[:k]  # every match scores the same: ES keeps index order
        elif single:
            keyf = keyfuncs[0]
            desc = bound[0].spec.desc
            if search_after is not None:
                after = bound[0].after_key(search_after[0], index)
                if ordered_here:
                    nums = nums[:bisect_left(nums, after, key=keyf)] if desc else \
                        nums[bisect_right(nums, after, key=keyf):]
                else:
                    nums = [n for n in nums if (keyf(n) < after if desc else keyf(n) > after)]
            chosen = _top(nums, k, keyf, desc, ordered_here)
        else:
            if search_after is not None:
                afters = [b.after_key(v, index) for b, v in zip(bound, search_after)]
                descs = [b.spec.desc for b in bound]
                nums = [n for n in nums if _after(keyfuncs, descs, afters, n)]
            for keyf, b in reversed(list(zip(keyfuncs, bound))):
                nums.sort(key=keyf, reverse=b.spec.desc)
            chosen = nums[:k]
        for n in chosen:
            comps = tuple(f(n) for f in keyfuncs)
            score = score_of(n) if need_scores and (sorted_by_score_only or track_scores) else None
            entries.append((comps, score, pos, index, slots[n], bound))
    if len(per_index) > 1 and entries:
        for i in reversed(range(len(sort_specs))):
            entries.sort(key=lambda e, i=i: e[0][i], reverse=sort_specs[i].desc)
    return entries[:k], max_score


def _top(nums: list[int], k: int, keyf, desc: bool, ordered: bool) -> list[int]:
    """The first ``k`` of ``nums`` by key, stable (ties keep doc order)."""
    n = len(nums)
    if k >= n:
        if ordered and not desc:
            return nums
        return sorted(nums, key=keyf, reverse=desc)
    if ordered:
        if not desc:
            return nums[:k]
        start = n - k
        boundary = keyf(nums[start])
        while start > 0 and keyf(nums[start - 1]) == boundary:
            start -= 1
        return sorted(nums[start:], key=keyf, reverse=True)[:k]
    if k * 8 < n:
        return heapq.nlargest(k, nums, key=keyf) if desc else heapq.nsmallest(k, nums, key=keyf)
    return sorted(nums, key=keyf, reverse=desc)[:k]


def _after(keyfuncs, descs, afters, n) -> bool:
    for keyf, desc, after in zip(keyfuncs, descs, afters):
        c = keyf(n)
        if c == after:
            continue
        return (c < after) if desc else (c > after)
    return False


def count(store: Store, target: str | None, body: dict | None, params: dict) -> dict:
    """Run ``_count`` and return ES's response body."""
    body = body or {}
    if not isinstance(body, dict):
        raise parsing("request body must be an object")
    for key in body:
        if key != "query":
            raise parsing(f"request does not support [{key}]")
    if "q" in params:
        raise unsupported("the [q] URI search parameter")
    for p in ("min_score", "terminate_after"):
        if p in params:
            raise unsupported(f"the [{p}] parameter")
    now_ns = time.time_ns()
    with store.lock:
        indices = store.resolve(target, **_target_opts(params))
        if not indices:
            validate_query(body.get("query"), now_ns)
        total = 0
        for index in indices:
            node = compile_for(index, body.get("query"), now_ns)
            if isinstance(node, MatchAll):
                total += len(index.docs)
            else:
                total += len(matching(index, node)[0])
    return {"count": total, "_shards": {"total": len(indices), "successful": len(indices), "skipped": 0,
                                        "failed": 0}}


def delete_by_query(store: Store, target: str, body: dict | None, params: dict) -> dict:
    """Delete every document matching the query (``_delete_by_query``)."""
    started = time.perf_counter()
    body = body or {}
    for key in body:
        if key not in ("query", "max_docs"):
            raise parsing(f"Unknown key for a START_OBJECT in [{key}].")
    if "query" not in body:
        raise EsError(400, "action_request_validation_exception",
                      "Validation Failed: 1: query is missing;")
    if params.get("conflicts", "abort") not in ("abort", "proceed"):
        raise illegal_argument(f"conflicts may only be \"proceed\" or \"abort\" but was [{params['conflicts']}]")
    if "max_docs" in body or "max_docs" in params or "q" in params or "slices" in params and params["slices"] != "1":
        raise unsupported("[max_docs], [q] and [slices] on _delete_by_query")
    if params.get("wait_for_completion") == "false":
        raise unsupported("asynchronous _delete_by_query (wait_for_completion=false)")
    now_ns = time.time_ns()
    deleted = 0
    total = 0
    with store.lock:
        for index in store.resolve(target, **_target_opts(params)):
            node = compile_for(index, body["query"], now_ns)
            nums, _ = matching(index, node)
            total += len(nums)
            lines = []
            name = orjson.dumps(index.name)
            for n in nums:
                doc = index.slots[n]
                if doc is None:
                    continue
                index.remove(doc.id)
                deleted += 1
                lines.append(b'{"op":"del","i":' + name + b',"id":' + orjson.dumps(doc.id) + b',"sq":'
                             + str(index.seq_no - 1).encode() + b"}")
            store.log(lines)
    return {"took": int((time.perf_counter() - started) * 1000), "timed_out": False, "total": total,
            "deleted": deleted, "batches": 1 if total else 0, "version_conflicts": 0, "noops": 0,
            "retries": {"bulk": 0, "search": 0}, "throttled_millis": 0, "requests_per_second": -1.0,
            "throttled_until_millis": 0, "failures": []}
