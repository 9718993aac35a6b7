"""The query DSL subset, compiled against one index into nodes that match with postings and sorted columns.

Queries: ``bool`` (must, filter, should + minimum_should_match, must_not), ``term``, ``terms``, ``range``
(with date ``format``, ``time_zone`` offsets and date math), ``match_all``, ``match_none``, ``exists``,
``ids``, ``match`` (on the stand-in's field types, all unanalysed, it matches the exact value as in ES),
``prefix``, ``wildcard``, ``constant_score``. Anything else is refused with a 400 naming it.

Scoring is not BM25: a matching scoring clause contributes its ``boost`` (default 1.0), filter context
contributes 0. Results are exact; only the order of unsorted hits with different relevance can differ
from a real cluster, so sort explicitly where order matters (the platform always does).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from . import dates
from .errors import EsError, illegal_argument, parsing, query_shard, unsupported
from .indices import Index, glob_regex
from .mapping import Field, Mapping

_KNOWN_UNSUPPORTED = {
    "query_string", "simple_query_string", "match_phrase", "match_phrase_prefix", "multi_match", "nested",
    "has_child", "has_parent", "parent_id", "fuzzy", "regexp", "geo_distance", "geo_bounding_box", "geo_shape",
    "geo_polygon", "script", "script_score", "function_score", "dis_max", "boosting", "more_like_this",
    "terms_set", "intervals", "distance_feature", "percolate", "rank_feature", "wrapper", "pinned", "span_term",
    "span_near", "span_or", "span_not", "span_first", "span_multi", "span_containing", "span_within",
    "field_masking_span", "combined_fields", "knn", "sparse_vector", "semantic", "match_bool_prefix", "shape",
    "text_expansion", "weighted_tokens", "rule",
}

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
            # When every document has a value, the column lists all of them in sort order.
            if col is not None and len(col.keys) - col.dead == len(self.index.docs):
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
    """Exact values of a keyword or boolean field, looked up in its postings."""

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
        return col.docnums(i, j, self.index.slots), ("field", self.path)

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
                raise parsing(f"[{kind}] query does not support [{key}] (or the Elasticsearch stand-in does not)")
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
        return max(ns, 0)  # date_nanos holds nothing before the epoch

    def _exact(self, field: Field, raw, boost: float, case_insensitive: bool = False) -> Node:
        kind = field.type
        index = self.index
        if kind == "keyword":
            value = field.query_value(raw, index.name)
            if case_insensitive:
                low = value.lower()
                return PostingScan(index, field.path, lambda k: k.lower() == low, boost)
            return PostingTerms(index, field.path, {value}, boost)
        if kind == "boolean":
            return PostingTerms(index, field.path, {field.query_value(raw, index.name)}, boost)
        if kind == "date_nanos":
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
        if field.type in ("keyword", "boolean"):
            return PostingTerms(self.index, path, {field.query_value(v, self.index.name) for v in values}, boost)
        if field.type == "date_nanos":
            return Bool(self.index, [], [], [self._exact(field, v, boost) for v in values], [], 1, 1.0)
        converted = []
        for v in values:
            q = field.query_value(v, self.index.name)
            if field.type == "long" and isinstance(q, float):
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
        if opts.get("format") and field.type != "date_nanos":
            raise query_shard(f"Field [{path}] of type [{field.type}] does not support custom formats",
                              self.index.name)
        if opts.get("time_zone") and field.type != "date_nanos":
            raise query_shard(f"Field [{path}] of type [{field.type}] does not support custom time zones",
                              self.index.name)
        if field.type == "date_nanos":
            fmt, tz = opts.get("format"), opts.get("time_zone")
            # ES rounds a partial date down for gte/lt and up for gt/lte (so lte "2024-01-01" covers the day).
            lo_v = None if lo is None else self._date_value(field, lo, not lo_inc, fmt, tz)
            hi_v = None if hi is None else self._date_value(field, hi, hi_inc, fmt, tz)
            return ColumnRange(self.index, path, lo_v, lo_inc, hi_v, hi_inc, boost)
        lo_v = None if lo is None else field.query_value(lo, self.index.name)
        hi_v = None if hi is None else field.query_value(hi, self.index.name)
        if field.type in ("long", "double"):
            return ColumnRange(self.index, path, lo_v, lo_inc, hi_v, hi_inc, boost)
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
        if "analyzer" in opts:
            raise unsupported("match [analyzer] (the stand-in's fields are not analysed)")
        boost = self._boost(opts, "match", {"query", "operator", "lenient", "zero_terms_query",
                                            "auto_generate_synonyms_phrase_query"})
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
        try:
            return self._exact(field, raw, boost)  # an unanalysed field holds one token: the whole value
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
        if field.type != "keyword":
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
        if field.type != "keyword":
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
    """Whether the document has a value at ``path`` that passes ``test``."""
    v = doc.values.get(path)
    return v is not None and test(v)


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
    Compiler(Index("_validation", {}, Mapping()), now_ns).compile(query)
