"""Document writes and reads: ``_bulk`` with ``index`` actions, and getting one document by id.

A bulk ``index`` action names its ``_id`` and its index (in the action or the URL); the document replaces any with
that id. Items fail one by one in ES's shape (the ``errors`` flag set), and a malformed action line fails the whole
request, as in ES. The ``create``, ``update`` and ``delete`` actions, generated ids and action options such as
``routing`` or ``if_seq_no`` are refused by name.
"""

from __future__ import annotations

import time
import orjson

from .errors import EsError, MapperError, illegal_argument, unsupported
from .faults import Faults, rejected_item_429
from .indices import Doc, Index
from .store import Store, doc_record

_SHARDS = {"total": 2, "successful": 1, "failed": 0}
_ACTIONS = ("index", "create", "delete", "update")
_META_KEYS = {"_index", "_id"}
_ES_META_KEYS = {"routing", "if_seq_no", "if_primary_term", "require_alias", "dynamic_templates", "pipeline",
                 "version", "version_type", "op_type", "require_data_stream", "list_executed_pipelines",
                 "retry_on_conflict", "_source"}
_REFRESH = {"", "true", "false", "wait_for"}


def check_refresh(params: dict) -> None:
    """``refresh`` is accepted (writes are visible at once anyway) but must be one of ES's values."""
    value = params.get("refresh")
    if value is not None and value not in _REFRESH:
        raise illegal_argument(f"Unknown value for refresh: [{value}].")


def _check_meta(meta: dict, line: int) -> str:
    """Check an ``index`` action's metadata; return its ``_id``."""
    for key in meta:
        if key in _ES_META_KEYS:
            raise unsupported(f"[{key}] in a bulk action")
        if key not in _META_KEYS:
            raise illegal_argument(f"Action/metadata line [{line}] contains an unknown parameter [{key}]")
    doc_id = meta.get("_id")
    if doc_id is None:
        raise unsupported("generated document ids (an index action without [_id])")
    doc_id = str(doc_id)
    if doc_id == "":
        raise EsError(400, "action_request_validation_exception",
                      "Validation Failed: 1: if _id is specified it must not be empty;")
    if len(doc_id.encode()) > 512:
        raise EsError(400, "action_request_validation_exception",
                      f"Validation Failed: 1: id [{doc_id}] is too long, must be no longer than 512 bytes but was: "
                      f"{len(doc_id.encode())};")
    return doc_id


def parse_bulk(body: bytes, default_index: str | None) -> list[tuple[str, str, bytes]]:
    """Split an NDJSON bulk body into (index, id, source) triples; raise for a malformed request."""
    if not body or not body.strip():
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
    if not body.endswith(b"\n"):
        raise illegal_argument("The bulk request must be terminated by a newline [\\n]")
    lines = body.split(b"\n")
    ops: list[tuple[str, str, bytes]] = []
    i = 0
    total = len(lines)
    missing_index = False
    while i < total:
        raw = lines[i].strip()
        i += 1
        if not raw:
            continue
        try:
            action_line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise illegal_argument(f"Malformed action/metadata line [{i}], expected START_OBJECT or END_OBJECT but "
                                   f"found [VALUE_STRING]") from None
        if not isinstance(action_line, dict) or len(action_line) != 1:
            raise illegal_argument(f"Malformed action/metadata line [{i}], expected START_OBJECT")
        action, meta = next(iter(action_line.items()))
        if action not in _ACTIONS:
            raise illegal_argument(f"Malformed action/metadata line [{i}], expected field [create], [delete], [index] "
                                   f"or [update] but found [{action}]")
        if action != "index":
            raise unsupported(f"the bulk [{action}] action")
        if not isinstance(meta, dict):
            raise illegal_argument(f"Malformed action/metadata line [{i}], expected START_OBJECT but found "
                                   f"[{type(meta).__name__}]")
        doc_id = _check_meta(meta, i)
        index = meta.get("_index") or default_index
        if index is None:
            missing_index = True
        if i >= total or (i == total - 1 and not lines[i].strip()):
            raise illegal_argument("The bulk request must be terminated by a newline [\\n]")
        ops.append((index, doc_id, lines[i].strip()))
        i += 1
    if missing_index:
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
    return ops


def bulk(store: Store, body: bytes, default_index: str | None, params: dict, faults: Faults) -> dict:
    """Execute a bulk request and return ES's response body."""
    started = time.perf_counter()
    check_refresh(params)
    ops = parse_bulk(body, default_index)
    items = []
    errors = False
    journal: list[bytes] = []
    name_json: dict[str, bytes] = {}
    with store.lock:
        try:
            for target, doc_id, source in ops:
                if faults.take("bulk_item_429"):
                    errors = True
                    items.append({"index": {"_index": target, "_id": doc_id, "status": 429,
                                            "error": rejected_item_429(target)}})
                    continue
                try:
                    index = store.write_index(target)
                    doc, created = write(index, doc_id, source)
                except EsError as exc:
                    errors = True
                    items.append({"index": {"_index": _item_index(store, target), "_id": doc_id,
                                            "status": exc.status, "error": exc.cause_dict()}})
                    continue
                nj = name_json.get(index.name) or name_json.setdefault(index.name, orjson.dumps(index.name))
                journal.append(doc_record(nj, doc))
                items.append({"index": {"_index": index.name, "_id": doc.id, "_version": doc.version,
                                        "result": "created" if created else "updated", "_shards": _SHARDS,
                                        "_seq_no": doc.seq_no, "_primary_term": 1,
                                        "status": 201 if created else 200}})
        finally:
            store.log(journal)
    return {"errors": errors, "took": int((time.perf_counter() - started) * 1000), "items": items}


def _item_index(store: Store, target: str) -> str:
    members = store.aliases.get(target)
    if members and len(members) == 1:
        return next(iter(members))
    return target


def write(index: Index, doc_id: str, source: bytes) -> tuple[Doc, bool]:
    """Parse and store one document; return it and whether it was created."""
    if not source:
        raise MapperError("failed to parse, document is empty").to_es()
    try:
        values = index.mapping.parse_doc(orjson.loads(source), doc_id)
    except orjson.JSONDecodeError as exc:
        raise MapperError("failed to parse", {"type": "json_parse_exception", "reason": str(exc)}).to_es() from None
    except MapperError as exc:
        raise exc.to_es() from None
    created = doc_id not in index.docs
    return index.put(doc_id, source, values), created


def get_doc(store: Store, target: str, doc_id: str) -> tuple[int, dict]:
    """``GET /{index}/_doc/{id}``: the document with its source, or a 404 body with ``found: false``."""
    with store.lock:
        index = store.single_index(target)
        doc = index.docs.get(doc_id)
        if doc is None:
            return 404, {"_index": index.name, "_id": doc_id, "found": False}
        return 200, {"_index": index.name, "_id": doc.id, "_version": doc.version, "_seq_no": doc.seq_no,
                     "_primary_term": 1, "found": True, "_source": orjson.Fragment(doc.source)}
