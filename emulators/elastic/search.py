"""``_search``, ``_count`` and ``_delete_by_query``: matching over the target's indices, paging, ``_source``.

Search body keys: ``query``, ``size``, ``from``, ``sort``, ``search_after``, ``track_total_hits``, ``_source``,
``aggs``/``aggregations`` and ``version``; other keys are refused by name. The result window is ES's default
(``from + size`` at most 10,000). A shard (index) whose mapping cannot serve the query or sort fails alone and is
reported under ``_shards.failures``, as in ES. Without a sort, hits come by score (not BM25: see ``query.py``).
"""

from __future__ import annotations

import heapq
import time
from bisect import bisect_left, bisect_right
from typing import Any

import orjson

from .aggs import run_aggs
from .errors import EsError, illegal_argument, parsing, search_failure, unsupported
from .indices import MAX_RESULT_WINDOW, Index, glob_regex
from .pit import parse_keep_alive
from .query import MatchAll, compile_for, matching, validate_query
from .sorting import BoundSort, SortSpec, parse_sort
from .store import Store, delete_record

_BODY_KEYS = {"query", "size", "from", "sort", "search_after", "track_total_hits", "_source", "aggs",
              "aggregations", "version", "pit"}
_BODY_UNSUPPORTED = {
    "post_filter", "highlight", "collapse", "script_fields", "docvalue_fields", "fields", "runtime_mappings",
    "suggest", "rescore", "indices_boost", "stats", "slice", "knn", "rank", "retriever", "terminate_after", "ext",
    "min_score", "stored_fields", "point_in_time", "timeout", "seq_no_primary_term", "track_scores", "explain",
    "profile",
}


class SourceFilter:
    """A search's ``_source``: true (whole), false (none), or field patterns to include and exclude.

    Documents are flat (see ``mapping.py``), so patterns are matched against their top-level keys.
    """

    def __init__(self, spec: Any = None):
        includes = excludes = None
        self.enabled = spec is not False
        if spec is None or isinstance(spec, bool):
            pass
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
        self.includes = [glob_regex(p) for p in includes or []]
        self.excludes = [glob_regex(p) for p in excludes or []]
        self._kept: dict[str, bool] = {}  # per field name: documents share few names, so match each once

    def apply(self, source: bytes):
        """Return the ``_source`` to send: the stored bytes untouched when unfiltered, None when disabled."""
        if not self.enabled:
            return None
        if not self.includes and not self.excludes:
            return orjson.Fragment(source)
        kept = self._kept
        out = {}
        for key, value in orjson.loads(source).items():
            keep = kept.get(key)
            if keep is None:
                keep = kept[key] = ((not self.includes or any(r.match(key) for r in self.includes))
                                    and not any(r.match(key) for r in self.excludes))
            if keep:
                out[key] = value
        return out


def _int_param(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise illegal_argument(f"Failed to parse int parameter [{name}] with value [{value}]") from None


def target_opts(params: dict) -> dict:
    """The index resolution options of a request's parameters (``expand_wildcards`` is checked, not applied)."""
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
    size = _int_param(body.get("size", 10), "size")
    from_ = _int_param(body.get("from", 0), "from")
    if size < 0:
        raise illegal_argument(f"[size] parameter cannot be negative, found [{size}]")
    if from_ < 0:
        raise illegal_argument(f"[from] parameter cannot be negative, found [{from_}]")
    sorts = parse_sort(body.get("sort"))
    pit = _pit_of(body.get("pit"), target)
    if pit is not None and sorts and not any(s.kind == "shard_doc" for s in sorts):
        sorts.append(SortSpec("shard_doc", None, False))  # ES's implicit tiebreaker of a search with a PIT
    elif pit is None and any(s.kind == "shard_doc" for s in sorts):
        raise illegal_argument("[_shard_doc] sort field cannot be used without [point in time]")
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
    track = body.get("track_total_hits", MAX_RESULT_WINDOW)
    if not isinstance(track, bool):
        track = _int_param(track, "track_total_hits")
    source_filter = SourceFilter(body.get("_source"))
    want_version = bool(body.get("version"))
    # Both names may be given; ES keeps whichever comes last in the body.
    aggs_keys = [key for key in body if key in ("aggs", "aggregations")]
    aggs_spec = body[aggs_keys[-1]] if aggs_keys else None
    now_ns = time.time_ns()
    with store.lock:
        if pit is not None:
            names = store.pits.indices(*pit)
            indices = [store.indices[name] for name in names if name in store.indices]
        else:
            indices = store.resolve(target, **target_opts(params))
        if not indices:
            validate_query(body.get("query"), now_ns)
        if from_ + size > MAX_RESULT_WINDOW:
            raise search_failure(illegal_argument(
                f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was "
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
                bound = [BoundSort(s, index, pos) for s in sort_specs]
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
        entries, max_score = _collect_hits(per_index, sorts, search_after, from_ + size)
        page = entries[from_:from_ + size]
        hits = []
        for comps, score, pos, index, doc, bound in page:
            hit = {"_index": index.name, "_id": doc.id, "_score": score}
            if want_version:
                hit["_version"] = doc.version
            source = source_filter.apply(doc.source)
            if source is not None:
                hit["_source"] = source
            if sorts:
                hit["sort"] = [b.emit(c) for b, c in zip(bound, comps)]
            hits.append(hit)
        aggregations = None
        if aggs_spec is not None:
            aggregations = run_aggs(aggs_spec, [(index, nums) for _, index, _, nums, _, _ in per_index], now_ns)
    hits_obj: dict[str, Any] = {}
    if track is not False:
        if track is True or total <= track:
            hits_obj["total"] = {"value": total, "relation": "eq"}
        else:
            hits_obj["total"] = {"value": track, "relation": "gte"}
    hits_obj["max_score"] = max_score
    hits_obj["hits"] = hits
    response = {"took": int((time.perf_counter() - started) * 1000), "timed_out": False,
                "_shards": _shards(len(indices), failures), "hits": hits_obj}
    if aggregations is not None:
        response["aggregations"] = aggregations
    if pit is not None:
        response["pit_id"] = pit[0]
    return response


def _pit_of(spec: Any, target: str | None) -> tuple[str, int | None] | None:
    """A search's ``pit`` as (id, keep-alive ns or None); a PIT search names no index, as in ES."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("id"), str) or set(spec) - {"id", "keep_alive"}:
        raise parsing("[pit] must be an object with [id] and optionally [keep_alive]")
    if target is not None:
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: [indices] cannot be used "
                      "with point in time. Do not specify any index with point in time.;")
    keep_alive = spec.get("keep_alive")
    return spec["id"], None if keep_alive is None else parse_keep_alive(keep_alive)


def open_point_in_time(store: Store, target: str, params: dict) -> dict:
    """``POST /{index}/_pit?keep_alive=``: pin the indices the target names now."""
    keep_alive = parse_keep_alive(params.get("keep_alive"))
    with store.lock:
        names = [index.name for index in store.resolve(target, **target_opts(params))]
    return {"id": store.pits.open(names, keep_alive),
            "_shards": {"total": len(names), "successful": len(names), "skipped": 0, "failed": 0}}


def _shards(total: int, failures: list) -> dict:
    shards = {"total": total, "successful": total - len(failures), "skipped": 0, "failed": len(failures)}
    if failures:
        shards["failures"] = [{"shard": 0, "index": index.name, "node": "standin",
                               "reason": (exc.root_cause or exc).cause_dict()} for index, exc in failures]
    return shards


def _collect_hits(per_index, sorts: list[SortSpec], search_after, k: int):
    """Return the first ``k`` hits over all indices, in order, plus max_score."""
    sort_specs = sorts or [SortSpec("score", None, True)]
    sorted_by_score_only = not sorts
    need_scores = sorted_by_score_only or any(s.kind == "score" for s in sorts)
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
        ordered_first = order == ("field", bound[0].spec.path) and bound[0].spec.kind == "field"
        ordered_here = single and ordered_first
        if order is None or (order != "doc" and not ordered_first):
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
            descs = [b.spec.desc for b in bound]
            afters = None if search_after is None else [b.after_key(v, index) for b, v in zip(bound, search_after)]
            if ordered_first and not descs[0]:
                # Already ordered by the first key: take the first k past the cursor, and their ties (pages of an
                # export stay a slice of the column instead of a sort of the whole index each).
                nums = _first_k_ordered(nums, k, keyfuncs, descs, afters)
            elif afters is not None:
                nums = [n for n in nums if _after(keyfuncs, descs, afters, n)]
            for keyf, b in reversed(list(zip(keyfuncs, bound))):
                nums.sort(key=keyf, reverse=b.spec.desc)
            chosen = nums[:k]
        for n in chosen:
            comps = tuple(f(n) for f in keyfuncs)
            score = score_of(n) if sorted_by_score_only else None
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


def _first_k_ordered(nums: list[int], k: int, keyfuncs, descs, afters) -> list[int]:
    """The matches past ``afters`` among ``nums`` (ascending by the first key), up to ``k`` and the ties of the last."""
    first = keyfuncs[0]
    start = 0 if afters is None else bisect_left(nums, afters[0], key=first)
    chosen: list[int] = []
    boundary = None
    for n in nums[start:] if start else nums:
        if afters is not None and not _after(keyfuncs, descs, afters, n):
            continue
        if len(chosen) >= k and first(n) != boundary:
            break
        chosen.append(n)
        if len(chosen) == k:
            boundary = first(n)
    return chosen


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
    now_ns = time.time_ns()
    with store.lock:
        indices = store.resolve(target, **target_opts(params))
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
    """Delete every document matching the query (``_delete_by_query``); as a task with ``wait_for_completion=false``.

    The request is checked before it is answered, so a bad query is a 400 either way, as in ES. The deletion is
    one batch under the store's lock: no document changes while it runs, so ``conflicts`` never matters here.
    """
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
    opts = target_opts(params)
    with store.lock:
        indices = store.resolve(target, **opts)
        for index in indices:
            compile_for(index, body["query"], time.time_ns())
        if not indices:
            validate_query(body["query"], time.time_ns())

    def run() -> dict:
        return _delete_matching(store, target, body["query"], opts)

    if params.get("wait_for_completion", "true") == "false":
        task = store.tasks.start("indices:data/write/delete/byquery", f"delete-by-query [{target}]", run)
        return {"task": task}
    return run()


def _delete_matching(store: Store, target: str, query: Any, opts: dict) -> dict:
    started = time.perf_counter()
    now_ns = time.time_ns()
    deleted = 0
    total = 0
    with store.lock:
        for index in store.resolve(target, **opts):
            node = compile_for(index, query, now_ns)
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
                lines.append(delete_record(name, doc.id, index.seq_no - 1))
            store.log(lines)
    return {"took": int((time.perf_counter() - started) * 1000), "timed_out": False, "total": total,
            "deleted": deleted, "batches": 1 if total else 0, "version_conflicts": 0, "noops": 0,
            "retries": {"bulk": 0, "search": 0}, "throttled_millis": 0, "requests_per_second": -1.0,
            "throttled_until_millis": 0, "failures": []}
