"""The REST endpoints: each parses its request, calls the store, and shapes ES's reply.

``ROUTES`` lists (methods, path pattern, handler, accepted query parameters); the server matches a
request against it. A parameter outside the accepted set is refused like ES refuses unknown parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from . import documents, query
from .errors import EsError, illegal_argument, unsupported
from .faults import Faults
from .indices import CLUSTER_SETTINGS, ES_VERSION, Store, nest_settings, new_uuid

COMMON_PARAMS = {"pretty", "human", "error_trace", "filter_path", "format", "master_timeout", "timeout"}


@dataclass
class Request:
    method: str
    path: str
    args: dict[str, str]
    params: dict[str, str]
    body: bytes
    store: Store
    faults: Faults
    cluster_uuid: str
    _json: Any = field(default=None, init=False)
    _parsed: bool = field(default=False, init=False)

    def json(self) -> Any:
        """The request body as JSON (None when empty)."""
        if not self._parsed:
            self._parsed = True
            if self.body and self.body.strip():
                try:
                    self._json = orjson.loads(self.body)
                except orjson.JSONDecodeError as exc:
                    raise EsError(400, "x_content_parse_exception", f"[1:1] Failed to parse the request body: {exc}") \
                        from None
        return self._json

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        return value in ("", "true")


Reply = tuple[int, Any]


def _ack() -> Reply:
    return 200, {"acknowledged": True}


# --- cluster ---------------------------------------------------------------------------------------------------


def info(req: Request) -> Reply:
    return 200, {
        "name": "standin", "cluster_name": "elasticsearch-standin", "cluster_uuid": req.cluster_uuid,
        "version": {"number": ES_VERSION, "build_flavor": "default", "build_type": "standin",
                    "build_hash": "standin", "build_date": "2024-08-05T10:05:34.233336849Z",
                    "build_snapshot": False, "lucene_version": "9.11.1",
                    "minimum_wire_compatibility_version": "7.17.0",
                    "minimum_index_compatibility_version": "7.0.0"},
        "tagline": "You Know, for Search"}


def cluster_health(req: Request) -> Reply:
    with req.store.lock:
        if "index" in req.args:
            indices = req.store.resolve(req.args["index"])
        else:
            indices = list(req.store.indices.values())
    n = len(indices)
    return 200, {"cluster_name": "elasticsearch-standin", "status": "green", "timed_out": False,
                 "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": n, "active_shards": n,
                 "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0,
                 "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
                 "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}


def get_cluster_settings(req: Request) -> Reply:
    with req.store.lock:
        scopes = {scope: dict(values) for scope, values in req.store.cluster_settings.items()}
    if req.flag("include_defaults"):
        scopes["defaults"] = dict(CLUSTER_SETTINGS)
    if req.flag("flat_settings"):
        return 200, scopes
    return 200, {scope: nest_settings(values) for scope, values in scopes.items()}


def put_cluster_settings(req: Request) -> Reply:
    with req.store.lock:
        changed = req.store.put_cluster_settings(req.json())
    return 200, {"acknowledged": True, "persistent": changed.get("persistent", {}),
                 "transient": changed.get("transient", {})}


# --- documents -------------------------------------------------------------------------------------------------


def bulk(req: Request) -> Reply:
    return 200, documents.bulk(req.store, req.body, req.args.get("index"), req.params, req.faults)


def index_doc(req: Request) -> Reply:
    return documents.index_doc(req.store, req.args["index"], req.args.get("id"), req.json(), req.params)


def create_doc(req: Request) -> Reply:
    params = dict(req.params)
    params["op_type"] = "create"
    return documents.index_doc(req.store, req.args["index"], req.args["id"], req.json(), params)


def get_doc(req: Request) -> Reply:
    if req.params.get("stored_fields"):
        raise unsupported("[stored_fields]")
    source = query.parse_source_filter(None, req.params)
    return documents.get_doc(req.store, req.args["index"], req.args["id"], source)


def delete_doc(req: Request) -> Reply:
    return documents.delete_doc(req.store, req.args["index"], req.args["id"], req.params)


def delete_by_query(req: Request) -> Reply:
    return 200, query.delete_by_query(req.store, req.args["index"], req.json(), req.params)


# --- search ----------------------------------------------------------------------------------------------------


def search(req: Request) -> Reply:
    if "scroll" in req.params:
        raise unsupported("scroll searches")
    return 200, query.search(req.store, req.args.get("index"), req.json(), req.params)


def count(req: Request) -> Reply:
    return 200, query.count(req.store, req.args.get("index"), req.json(), req.params)


def refresh(req: Request) -> Reply:
    with req.store.lock:
        indices = req.store.resolve(req.args.get("index"), ignore_unavailable=req.flag("ignore_unavailable"),
                                    allow_no_indices=req.flag("allow_no_indices", True))
    n = len(indices)
    return 200, {"_shards": {"total": 2 * n, "successful": n, "failed": 0}}


# --- indices ---------------------------------------------------------------------------------------------------


def create_index(req: Request) -> Reply:
    with req.store.lock:
        index = req.store.create_index(req.args["index"], req.json())
    return 200, {"acknowledged": True, "shards_acknowledged": True, "index": index.name}


def _resolve(req: Request, allow_no_indices: bool = True):
    return req.store.resolve(req.args.get("index"), ignore_unavailable=req.flag("ignore_unavailable"),
                             allow_no_indices=req.flag("allow_no_indices", allow_no_indices))


def index_exists(req: Request) -> Reply:
    with req.store.lock:
        try:
            found = _resolve(req, allow_no_indices=False)
        except EsError:
            return 404, None
    return (200 if found else 404), None


def get_index(req: Request) -> Reply:
    with req.store.lock:
        out = {}
        for index in _resolve(req):
            out[index.name] = {"aliases": req.store.aliases_of(index.name), "mappings": index.mapping.to_dict(),
                               "settings": index.settings_view()}
    return 200, out


def delete_index(req: Request) -> Reply:
    with req.store.lock:
        req.store.delete_indices(req.args["index"], ignore_unavailable=req.flag("ignore_unavailable"),
                                 allow_no_indices=req.flag("allow_no_indices", True))
    return _ack()


def get_mapping(req: Request) -> Reply:
    with req.store.lock:
        return 200, {i.name: {"mappings": i.mapping.to_dict()} for i in _resolve(req)}


def put_mapping(req: Request) -> Reply:
    body = req.json()
    if not isinstance(body, dict):
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: mapping source is empty;")
    with req.store.lock:
        req.store.put_mapping(_resolve(req, allow_no_indices=False), body)
    return _ack()


def get_settings(req: Request) -> Reply:
    if "name" in req.args:
        raise unsupported("filtering settings by name")
    with req.store.lock:
        return 200, {i.name: {"settings": i.settings_view()} for i in _resolve(req)}


# --- templates -------------------------------------------------------------------------------------------------


def put_template(req: Request) -> Reply:
    body = req.json()
    with req.store.lock:
        req.store.put_template(req.args["name"], body, create=req.flag("create"))
    return _ack()


def get_templates(req: Request) -> Reply:
    with req.store.lock:
        found = req.store.find_templates(req.args.get("name"))
        return 200, {"index_templates": [{"name": t.name, "index_template": t.to_dict()} for t in found]}


def template_exists(req: Request) -> Reply:
    with req.store.lock:
        try:
            req.store.find_templates(req.args["name"])
        except EsError:
            return 404, None
    return 200, None


def delete_template(req: Request) -> Reply:
    with req.store.lock:
        req.store.delete_template(req.args["name"])
    return _ack()


# --- aliases ---------------------------------------------------------------------------------------------------


def update_aliases(req: Request) -> Reply:
    body = req.json() or {}
    with req.store.lock:
        req.store.update_aliases(body.get("actions"))
    return _ack()


def get_aliases(req: Request) -> Reply:
    from .indices import glob_regex
    name = req.args.get("name")
    store = req.store
    with store.lock:
        indices = _resolve(req) if "index" in req.args else [store.indices[n] for n in sorted(store.indices)]
        patterns = [glob_regex(p) for p in name.split(",")] if name and name not in ("_all", "*") else None
        out = {}
        for index in indices:
            aliases = store.aliases_of(index.name)
            if patterns is not None:
                aliases = {a: p for a, p in aliases.items() if any(r.match(a) for r in patterns)}
                if not aliases:
                    continue
            out[index.name] = {"aliases": aliases}
    if patterns is not None and not out:
        if req.method == "HEAD":
            return 404, None
        return 404, {"error": f"alias [{name}] missing", "status": 404}
    return 200, (None if req.method == "HEAD" else out)


def put_alias(req: Request) -> Reply:
    props = req.json() or {}
    if not isinstance(props, dict):
        raise illegal_argument("alias body must be an object")
    with req.store.lock:
        req.store.update_aliases([{"add": {"index": req.args["index"], "alias": req.args["name"], **props}}])
    return _ack()


def delete_alias(req: Request) -> Reply:
    with req.store.lock:
        req.store.update_aliases([{"remove": {"index": req.args["index"], "alias": req.args["name"]}}])
    return _ack()


# --- the stand-in's own endpoints --------------------------------------------------------------------------------


def faults(req: Request) -> Reply:
    if req.method == "GET":
        return 200, {"pending": req.faults.snapshot()}
    if req.method == "DELETE":
        return 200, {"acknowledged": True, "pending": req.faults.clear()}
    return 200, {"acknowledged": True, "pending": req.faults.add(req.json())}


_SEARCH = {"size", "from", "sort", "_source", "_source_includes", "_source_excludes", "track_total_hits",
           "ignore_unavailable", "allow_no_indices", "expand_wildcards", "typed_keys", "rest_total_hits_as_int",
           "request_cache", "preference", "routing", "batched_reduce_size", "ccs_minimize_roundtrips",
           "search_type", "allow_partial_search_results", "max_concurrent_shard_requests", "pre_filter_shard_size",
           "track_scores", "version", "seq_no_primary_term", "ignore_throttled", "q", "scroll",
           "include_named_queries_score"}
_COUNT = {"ignore_unavailable", "allow_no_indices", "expand_wildcards", "preference", "routing", "q",
          "min_score", "terminate_after", "ignore_throttled"}
_BULK = {"refresh", "wait_for_active_shards", "pipeline", "routing", "_source", "_source_includes",
         "_source_excludes", "require_alias", "require_data_stream", "list_executed_pipelines"}
_DOC_WRITE = {"refresh", "wait_for_active_shards", "op_type", "routing", "if_seq_no", "if_primary_term", "pipeline",
              "version", "version_type", "require_alias", "require_data_stream"}
_DOC_GET = {"_source", "_source_includes", "_source_excludes", "realtime", "refresh", "routing", "preference",
            "stored_fields", "version", "version_type"}
_TARGET = {"ignore_unavailable", "allow_no_indices", "expand_wildcards", "local", "include_defaults",
           "flat_settings", "features"}

# (methods, path pattern, handler, accepted parameters); literal segments come before placeholders.
ROUTES: list[tuple[set[str], tuple[str, ...], Callable[[Request], Reply], set[str]]] = [
    ({"GET", "HEAD"}, (), info, set()),
    ({"GET"}, ("_cluster", "health"), cluster_health, {"wait_for_status", "wait_for_nodes", "level", "local",
                                                       "wait_for_no_relocating_shards", "wait_for_active_shards",
                                                       "wait_for_events", "wait_for_no_initializing_shards"}),
    ({"GET"}, ("_cluster", "health", "{index}"), cluster_health, {"wait_for_status", "level", "local",
                                                                  "wait_for_active_shards"}),
    ({"GET"}, ("_cluster", "settings"), get_cluster_settings, {"flat_settings", "include_defaults", "local",
                                                               "master_timeout", "timeout"}),
    ({"PUT"}, ("_cluster", "settings"), put_cluster_settings, {"flat_settings", "master_timeout", "timeout"}),
    ({"POST", "PUT"}, ("_bulk",), bulk, _BULK),
    ({"GET", "POST"}, ("_search",), search, _SEARCH),
    ({"GET", "POST"}, ("_count",), count, _COUNT),
    ({"GET", "POST"}, ("_refresh",), refresh, _TARGET),
    ({"GET"}, ("_index_template",), get_templates, {"local", "flat_settings", "include_defaults"}),
    ({"GET"}, ("_index_template", "{name}"), get_templates, {"local", "flat_settings", "include_defaults"}),
    ({"HEAD"}, ("_index_template", "{name}"), template_exists, {"local", "flat_settings"}),
    ({"PUT", "POST"}, ("_index_template", "{name}"), put_template, {"create", "cause"}),
    ({"DELETE"}, ("_index_template", "{name}"), delete_template, set()),
    ({"POST"}, ("_aliases",), update_aliases, set()),
    ({"GET", "HEAD"}, ("_alias",), get_aliases, _TARGET),
    ({"GET", "HEAD"}, ("_alias", "{name}"), get_aliases, _TARGET),
    ({"GET"}, ("_mapping",), get_mapping, _TARGET),
    ({"GET"}, ("_settings",), get_settings, _TARGET),
    ({"GET", "POST", "DELETE"}, ("_standin", "faults"), faults, set()),
    ({"POST", "PUT"}, ("{index}", "_bulk"), bulk, _BULK),
    ({"GET", "POST"}, ("{index}", "_search"), search, _SEARCH),
    ({"GET", "POST"}, ("{index}", "_count"), count, _COUNT),
    ({"GET", "POST"}, ("{index}", "_refresh"), refresh, _TARGET),
    ({"POST"}, ("{index}", "_delete_by_query"), delete_by_query,
     _COUNT | {"refresh", "conflicts", "wait_for_completion", "slices", "scroll_size", "requests_per_second",
               "max_docs", "wait_for_active_shards", "search_type"}),
    ({"GET"}, ("{index}", "_mapping"), get_mapping, _TARGET),
    ({"PUT", "POST"}, ("{index}", "_mapping"), put_mapping, _TARGET | {"write_index_only"}),
    ({"GET"}, ("{index}", "_settings"), get_settings, _TARGET),
    ({"GET"}, ("{index}", "_settings", "{name}"), get_settings, _TARGET),
    ({"GET", "HEAD"}, ("{index}", "_alias"), get_aliases, _TARGET),
    ({"GET", "HEAD"}, ("{index}", "_alias", "{name}"), get_aliases, _TARGET),
    ({"PUT", "POST"}, ("{index}", "_alias", "{name}"), put_alias, set()),
    ({"PUT", "POST"}, ("{index}", "_aliases", "{name}"), put_alias, set()),
    ({"DELETE"}, ("{index}", "_alias", "{name}"), delete_alias, set()),
    ({"DELETE"}, ("{index}", "_aliases", "{name}"), delete_alias, set()),
    ({"POST"}, ("{index}", "_doc"), index_doc, _DOC_WRITE),
    ({"PUT", "POST"}, ("{index}", "_doc", "{id}"), index_doc, _DOC_WRITE),
    ({"PUT", "POST"}, ("{index}", "_create", "{id}"), create_doc, _DOC_WRITE),
    ({"GET", "HEAD"}, ("{index}", "_doc", "{id}"), get_doc, _DOC_GET),
    ({"DELETE"}, ("{index}", "_doc", "{id}"), delete_doc, _DOC_WRITE),
    ({"PUT"}, ("{index}",), create_index, {"wait_for_active_shards", "include_type_name"}),
    ({"HEAD"}, ("{index}",), index_exists, _TARGET),
    ({"GET"}, ("{index}",), get_index, _TARGET),
    ({"DELETE"}, ("{index}",), delete_index, _TARGET),
]


def match_route(method: str, segments: list[str]):
    """Return (handler, args, accepted params), or raise 405/400 like ES for unknown paths or methods."""
    allowed_methods: set[str] = set()
    for methods, pattern, handler, accepted in ROUTES:
        if len(pattern) != len(segments):
            continue
        args = {}
        ok = True
        for part, seg in zip(pattern, segments):
            if part.startswith("{"):
                name = part[1:-1]
                if name != "id" and seg.startswith("_") and seg != "_all":
                    ok = False
                    break
                args[name] = seg
            elif part != seg:
                ok = False
                break
        if not ok:
            continue
        if method in methods:
            return handler, args, accepted
        allowed_methods |= methods
    uri = "/" + "/".join(segments)
    if allowed_methods:
        raise EsError(405, "method_not_allowed_exception",
                      f"Incorrect HTTP method for uri [{uri}] and method [{method}], allowed: "
                      f"[{', '.join(sorted(allowed_methods))}]")
    raise EsError(400, "illegal_argument_exception",
                  f"no handler found for uri [{uri}] and method [{method}] (the endpoint is unknown to Elasticsearch "
                  f"or not supported by the Elasticsearch stand-in)")


def check_params(path: str, params: dict, accepted: set[str]) -> None:
    unknown = [p for p in params if p not in accepted and p not in COMMON_PARAMS]
    if unknown:
        raise illegal_argument(f"request [{path}] contains unrecognized parameter: [{unknown[0]}]")
    if params.get("format") not in (None, "json"):
        raise unsupported(f"response format [{params['format']}]")


def new_cluster_uuid() -> str:
    return new_uuid()

