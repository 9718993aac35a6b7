"""The REST endpoints: each parses its request, calls the store, and shapes ES's reply.

``ROUTES`` lists (methods, path pattern, handler, accepted query parameters); the server matches a request
against it. An unknown endpoint, or a parameter outside the accepted set, is refused with a 400 naming it, as ES
refuses unknown ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from . import documents, search as searching
from .errors import EsError, illegal_argument, unsupported
from .faults import Faults
from .indices import ES_VERSION, new_uuid
from .store import Store

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

    def indices(self, allow_no_indices: bool = True):
        """The indices the ``{index}`` part of the path names (all of them without one)."""
        return self.store.resolve(self.args.get("index"), ignore_unavailable=self.flag("ignore_unavailable"),
                                  allow_no_indices=self.flag("allow_no_indices", allow_no_indices))


Reply = tuple[int, Any]


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


def put_cluster_settings(req: Request) -> Reply:
    with req.store.lock:
        changed = req.store.put_cluster_settings(req.json())
    return 200, {"acknowledged": True, "persistent": changed, "transient": {}}


# --- documents and search --------------------------------------------------------------------------------------


def bulk(req: Request) -> Reply:
    return 200, documents.bulk(req.store, req.body, req.args.get("index"), req.params, req.faults)


def get_doc(req: Request) -> Reply:
    return documents.get_doc(req.store, req.args["index"], req.args["id"])


def search(req: Request) -> Reply:
    return 200, searching.search(req.store, req.args.get("index"), req.json(), req.params)


def count(req: Request) -> Reply:
    return 200, searching.count(req.store, req.args.get("index"), req.json(), req.params)


def delete_by_query(req: Request) -> Reply:
    return 200, searching.delete_by_query(req.store, req.args["index"], req.json(), req.params)


def open_pit(req: Request) -> Reply:
    return 200, searching.open_point_in_time(req.store, req.args["index"], req.params)


def close_pit(req: Request) -> Reply:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: [id] is missing;")
    freed = req.store.pits.close(body["id"])
    return (200 if freed else 404), {"succeeded": True, "num_freed": freed}


def get_task(req: Request) -> Reply:
    return 200, req.store.tasks.get(req.args["task_id"])


def refresh(req: Request) -> Reply:
    with req.store.lock:
        n = len(req.indices())
    return 200, {"_shards": {"total": 2 * n, "successful": n, "failed": 0}}


# --- indices ---------------------------------------------------------------------------------------------------


def create_index(req: Request) -> Reply:
    with req.store.lock:
        index = req.store.create_index(req.args["index"], req.json())
    return 200, {"acknowledged": True, "shards_acknowledged": True, "index": index.name}


def index_exists(req: Request) -> Reply:
    with req.store.lock:
        try:
            found = req.indices(allow_no_indices=False)
        except EsError:
            return 404, None
    return (200 if found else 404), None


def get_index(req: Request) -> Reply:
    with req.store.lock:
        return 200, {index.name: {"aliases": req.store.aliases_of(index.name), "mappings": index.mapping.to_dict(),
                                  "settings": index.settings_view()} for index in req.indices()}


def delete_index(req: Request) -> Reply:
    with req.store.lock:
        req.store.delete_indices(req.args["index"], ignore_unavailable=req.flag("ignore_unavailable"),
                                 allow_no_indices=req.flag("allow_no_indices", True))
    return 200, {"acknowledged": True}


def get_mapping(req: Request) -> Reply:
    with req.store.lock:
        return 200, {index.name: {"mappings": index.mapping.to_dict()} for index in req.indices()}


def get_settings(req: Request) -> Reply:
    with req.store.lock:
        return 200, {index.name: {"settings": index.settings_view()} for index in req.indices()}


def get_aliases(req: Request) -> Reply:
    with req.store.lock:
        return 200, {index.name: {"aliases": req.store.aliases_of(index.name)} for index in req.indices()}


# --- templates -------------------------------------------------------------------------------------------------


def put_template(req: Request) -> Reply:
    with req.store.lock:
        req.store.put_template(req.args["name"], req.json())
    return 200, {"acknowledged": True}


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
    return 200, {"acknowledged": True}


# --- the stand-in's own endpoints --------------------------------------------------------------------------------


def faults(req: Request) -> Reply:
    if req.method == "GET":
        return 200, {"pending": req.faults.snapshot()}
    if req.method == "DELETE":
        return 200, {"acknowledged": True, "pending": req.faults.clear()}
    return 200, {"acknowledged": True, "pending": req.faults.add(req.json())}


_TARGET = {"ignore_unavailable", "allow_no_indices", "expand_wildcards"}
_DELETE_BY_QUERY = _TARGET | {"refresh", "conflicts", "wait_for_completion", "slices", "scroll_size",
                              "requests_per_second", "max_docs", "wait_for_active_shards", "search_type"}

# (methods, path pattern, handler, accepted parameters); literal segments come before placeholders.
ROUTES: list[tuple[set[str], tuple[str, ...], Callable[[Request], Reply], set[str]]] = [
    ({"GET", "HEAD"}, (), info, set()),
    ({"PUT"}, ("_cluster", "settings"), put_cluster_settings, set()),
    ({"POST", "PUT"}, ("_bulk",), bulk, {"refresh"}),
    ({"GET", "POST"}, ("_search",), search, _TARGET),
    ({"GET", "POST"}, ("_count",), count, _TARGET),
    ({"GET", "POST"}, ("_refresh",), refresh, _TARGET),
    ({"GET"}, ("_index_template",), get_templates, set()),
    ({"GET"}, ("_index_template", "{name}"), get_templates, set()),
    ({"HEAD"}, ("_index_template", "{name}"), template_exists, set()),
    ({"PUT", "POST"}, ("_index_template", "{name}"), put_template, set()),
    ({"DELETE"}, ("_index_template", "{name}"), delete_template, set()),
    ({"GET"}, ("_alias",), get_aliases, _TARGET),
    ({"GET"}, ("_mapping",), get_mapping, _TARGET),
    ({"GET"}, ("_settings",), get_settings, _TARGET),
    ({"GET", "POST", "DELETE"}, ("_standin", "faults"), faults, set()),
    ({"GET"}, ("_tasks", "{task_id}"), get_task, set()),
    ({"DELETE"}, ("_pit",), close_pit, set()),
    ({"POST", "PUT"}, ("{index}", "_bulk"), bulk, {"refresh"}),
    ({"GET", "POST"}, ("{index}", "_search"), search, _TARGET),
    ({"GET", "POST"}, ("{index}", "_count"), count, _TARGET),
    ({"GET", "POST"}, ("{index}", "_refresh"), refresh, _TARGET),
    ({"POST"}, ("{index}", "_delete_by_query"), delete_by_query, _DELETE_BY_QUERY),
    ({"POST"}, ("{index}", "_pit"), open_pit, _TARGET | {"keep_alive"}),
    ({"GET"}, ("{index}", "_alias"), get_aliases, _TARGET),
    ({"GET"}, ("{index}", "_mapping"), get_mapping, _TARGET),
    ({"GET"}, ("{index}", "_settings"), get_settings, _TARGET),
    ({"GET", "HEAD"}, ("{index}", "_doc", "{id}"), get_doc, set()),
    ({"PUT"}, ("{index}",), create_index, {"wait_for_active_shards"}),
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
                      f"[{', '.join(sorted(allowed_methods))}] (or the others are not supported by the "
                      f"Elasticsearch stand-in)")
    raise EsError(400, "illegal_argument_exception",
                  f"no handler found for uri [{uri}] and method [{method}] (the endpoint is unknown to Elasticsearch "
                  f"or not supported by the Elasticsearch stand-in)")


def check_params(path: str, params: dict, accepted: set[str]) -> None:
    unknown = [p for p in params if p not in accepted and p not in COMMON_PARAMS]
    if unknown:
        raise illegal_argument(f"request [{path}] contains unrecognized parameter: [{unknown[0]}] (unknown to "
                               f"Elasticsearch or not supported by the Elasticsearch stand-in)")
    if params.get("format") not in (None, "json"):
        raise unsupported(f"response format [{params['format']}]")


def new_cluster_uuid() -> str:
    return new_uuid()
