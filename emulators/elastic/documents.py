"""Document writes and reads: ``_bulk``, the single-document API, and replaying the journal.

Bulk supports the ``index``, ``create`` and ``delete`` actions (``update`` is refused with a 400), with
and without ``_id``, ``if_seq_no``/``if_primary_term``, per-item errors in ES's shape and the ``errors``
flag. A malformed action line fails the whole request as in ES; a malformed document fails only its item.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from .errors import EsError, MapperError, illegal_argument, index_not_found, unsupported
from .faults import Faults, rejected_item_429
from .indices import Doc, Index, Store, doc_record, new_doc_id

_SHARDS = {"total": 2, "successful": 1, "failed": 0}
_ACTIONS = ("index", "create", "delete", "update")
_META_KEYS = {"_index", "_id", "routing", "if_seq_no", "if_primary_term", "require_alias", "dynamic_templates",
              "pipeline", "version", "version_type", "op_type", "require_data_stream", "list_executed_pipelines",
              "retry_on_conflict", "_source"}
_REFRESH = {"", "true", "false", "wait_for"}


def check_refresh(params: dict) -> None:
    value = params.get("refresh")
    if value is not None and value not in _REFRESH:
        raise illegal_argument(f"Unknown value for refresh: [{value}].")


_PLAIN_META = ({"_index", "_id"}, {"_id"}, {"_index"}, set())


def _check_meta(meta: dict, line: int, action: str) -> None:
    if meta.keys() in _PLAIN_META:
        doc_id = meta.get("_id")
        if doc_id is None or (type(doc_id) is str and 0 < len(doc_id) <= 128):
            return
    for key, value in meta.items():
        if key not in _META_KEYS:
            raise illegal_argument(f"Action/metadata line [{line}] contains an unknown parameter [{key}]")
        if key == "pipeline" and value not in (None, "_none"):
            raise unsupported("ingest pipelines ([pipeline])")
        if key in ("version", "version_type") and value is not None:
            raise unsupported(f"external versioning ([{key}])")
        if key == "dynamic_templates" and value:
            raise unsupported("[dynamic_templates] in bulk metadata")
        if key in ("require_alias", "require_data_stream") and str(value).lower() == "true":
            raise unsupported(f"[{key}]")
        if key == "op_type" and action == "index" and value not in ("index", "create"):
            raise illegal_argument(f"opType must be 'create' or 'index', found: [{value}]")
    if "_id" in meta and meta["_id"] is not None and str(meta["_id"]) == "":
        raise EsError(400, "action_request_validation_exception",
                      "Validation Failed: 1: if _id is specified it must not be empty;")
    if "_id" in meta and meta["_id"] is not None and len(str(meta["_id"]).encode()) > 512:
        raise EsError(400, "action_request_validation_exception",
                      f"Validation Failed: 1: id [{meta['_id']}] is too long, must be no longer than 512 bytes but "
                      f"was: {len(str(meta['_id']).encode())};")


def parse_bulk(body: bytes, default_index: str | None, params: dict) -> list[tuple[str, dict, bytes | None]]:
    """Split an NDJSON bulk body into (action, metadata, source) triples; raise for a malformed request."""
    if not body or not body.strip():
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
    if not body.endswith(b"\n"):
        raise illegal_argument("The bulk request must be terminated by a newline [\\n]")
    if params.get("pipeline") not in (None, "_none"):
        raise unsupported("ingest pipelines ([pipeline])")
    if str(params.get("require_alias", "false")).lower() == "true":
        raise unsupported("[require_alias]")
    lines = body.split(b"\n")
    ops: list[tuple[str, dict, bytes | None]] = []
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
            raise illegal_argument(f"Malformed action/metadata line [{i}], expected a simple value for field "
                                   f"[{next(iter(action_line), '')}] but found [START_OBJECT]"
                                   if isinstance(action_line, dict) else
                                   f"Malformed action/metadata line [{i}], expected START_OBJECT")
        action, meta = next(iter(action_line.items()))
        if action not in _ACTIONS:
            raise illegal_argument(f"Malformed action/metadata line [{i}], expected field [create], [delete], [index] "
                                   f"or [update] but found [{action}]")
        if action == "update":
            raise unsupported("the bulk [update] action")
        if not isinstance(meta, dict):
            raise illegal_argument(f"Malformed action/metadata line [{i}], expected START_OBJECT but found "
                                   f"[{type(meta).__name__}]")
        _check_meta(meta, i, action)
        if (meta.get("_index") or default_index) is None:
            missing_index = True
        source = None
        if action != "delete":
            if i >= total or (i == total - 1 and not lines[i].strip() and i + 1 >= total):
                raise illegal_argument("The bulk request must be terminated by a newline [\\n]")
            source = lines[i].strip()
            i += 1
        elif meta.get("_id") in (None, ""):
            raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: id is missing;")
        ops.append((action, meta, source))
    if missing_index:
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
    return ops


def bulk(store: Store, body: bytes, default_index: str | None, params: dict, faults: Faults) -> dict:
    """Execute a bulk request and return ES's response body."""
    started = time.perf_counter()
    check_refresh(params)
    ops = parse_bulk(body, default_index, params)
    items = []
    errors = False
    journal: list[bytes] = []
    name_json: dict[str, bytes] = {}
    with store.lock:
        try:
            for action, meta, source in ops:
                target = meta.get("_index") or default_index
                doc_id = meta.get("_id")
                doc_id = str(doc_id) if doc_id is not None else None
                if faults.take("bulk_item_429"):
                    errors = True
                    items.append({action: {"_index": target, "_id": doc_id, "status": 429,
                                           "error": rejected_item_429(target)}})
                    continue
                try:
                    if action == "delete":
                        index = store.write_index(target, auto_create=False)
                        items.append({action: _delete(index, doc_id, meta)})
                        nj = name_json.get(index.name) or name_json.setdefault(index.name, orjson.dumps(index.name))
                        journal.append(b'{"op":"del","i":' + nj + b',"id":' + orjson.dumps(doc_id) + b',"sq":'
                                       + str(index.seq_no - 1).encode() + b"}")
                        continue
                    index = store.write_index(target)
                    op_type = "create" if action == "create" or meta.get("op_type") == "create" else "index"
                    doc, created = write(index, doc_id, source, None, op_type, meta)
                    nj = name_json.get(index.name) or name_json.setdefault(index.name, orjson.dumps(index.name))
                    journal.append(doc_record(nj, doc))
                    items.append({action: {"_index": index.name, "_id": doc.id, "_version": doc.version,
                                           "result": "created" if created else "updated", "_shards": _SHARDS,
                                           "_seq_no": doc.seq_no, "_primary_term": 1,
                                           "status": 201 if created else 200}})
                except EsError as exc:
                    errors = True
                    items.append({action: {"_index": _item_index(store, target), "_id": doc_id,
                                           "status": exc.status, "error": exc.cause_dict()}})
        finally:
            store.log(journal)
    return {"errors": errors, "took": int((time.perf_counter() - started) * 1000), "items": items}


def _item_index(store: Store, target: str) -> str:
    members = store.aliases.get(target)
    if members and len(members) == 1:
        return next(iter(members))
    return target


def _delete(index: Index, doc_id: str, meta: dict) -> dict:
    _check_seq_no(index, doc_id, meta)
    doc = index.remove(doc_id)
    seq_no = index.seq_no - 1
    if doc is None:
        return {"_index": index.name, "_id": doc_id, "_version": 1, "result": "not_found", "_shards": _SHARDS,
                "_seq_no": seq_no, "_primary_term": 1, "status": 404}
    return {"_index": index.name, "_id": doc_id, "_version": doc.version + 1, "result": "deleted",
            "_shards": _SHARDS, "_seq_no": seq_no, "_primary_term": 1, "status": 200}


def _conflict(index: Index, doc_id: str, reason: str) -> EsError:
    return EsError(409, "version_conflict_engine_exception", f"[{doc_id}]: version conflict, {reason}",
                   index_uuid=index.uuid, shard="0", index=index.name)


def _check_seq_no(index: Index, doc_id: str, meta: dict) -> None:
    if meta.get("if_seq_no") is None and meta.get("if_primary_term") is None:
        return
    try:
        want_seq = int(meta["if_seq_no"])
        want_term = int(meta["if_primary_term"])
    except (KeyError, TypeError, ValueError):
        raise EsError(400, "action_request_validation_exception",
                      "Validation Failed: 1: ifSeqNo is set, but primary term is [0];") from None
    current = index.docs.get(doc_id)
    if current is None:
        raise _conflict(index, doc_id, f"required seqNo [{want_seq}], primary term [{want_term}] but no document "
                                       f"was found")
    if current.seq_no != want_seq or want_term != 1:
        raise _conflict(index, doc_id, f"required seqNo [{want_seq}], primary term [{want_term}]. current document "
                                       f"has seqNo [{current.seq_no}] and primary term [1]")


def write(index: Index, doc_id: str | None, source: bytes | None, obj: Any, op_type: str, meta: dict
          ) -> tuple[Doc, bool]:
    """Parse, check and store one document; return it and whether it was created."""
    if obj is None:
        if not source:
            raise MapperError("failed to parse, document is empty", None).to_es()
        try:
            obj = orjson.loads(source)
        except orjson.JSONDecodeError as exc:
            raise MapperError("failed to parse", {"type": "json_parse_exception", "reason": str(exc)}).to_es() from None
    if source is None:
        source = orjson.dumps(obj)
    auto_id = doc_id is None
    if auto_id:
        doc_id = new_doc_id()
    try:
        values = index.mapping.parse_doc(obj, doc_id)
    except MapperError as exc:
        raise exc.to_es() from None
    existing = index.docs.get(doc_id)
    if op_type == "create" and existing is not None:
        raise _conflict(index, doc_id, f"document already exists (current version [{existing.version}])")
    _check_seq_no(index, doc_id, meta)
    doc = index.put(doc_id, source, values)
    return doc, existing is None


# --- the single-document API -------------------------------------------------------------------------------


def index_doc(store: Store, target: str, doc_id: str | None, obj: Any, params: dict) -> tuple[int, dict]:
    check_refresh(params)
    op_type = params.get("op_type", "index")
    if op_type not in ("index", "create"):
        raise illegal_argument(f"opType must be 'create' or 'index', found: [{op_type}]")
    meta = {k: params[k] for k in ("if_seq_no", "if_primary_term", "pipeline", "version", "version_type",
                                   "require_alias") if k in params}
    _check_meta(meta, 1, "index")
    if doc_id is not None:
        _check_meta({"_id": doc_id}, 1, "index")
    with store.lock:
        index = store.write_index(target)
        doc, created = write(index, doc_id, None, obj, op_type, meta)
        store.log([doc_record(orjson.dumps(index.name), doc)])
    body = {"_index": index.name, "_id": doc.id, "_version": doc.version,
            "result": "created" if created else "updated", "_shards": _SHARDS, "_seq_no": doc.seq_no,
            "_primary_term": 1}
    return (201 if created else 200), body


def single_index(store: Store, target: str, write: bool = False) -> Index:
    """Resolve a name for a single-document read (index or one-index alias) or delete (also a write index)."""
    index = store.indices.get(target)
    if index is not None:
        return index
    members = store.aliases.get(target)
    if not members:
        raise index_not_found(target)
    if len(members) > 1:
        writers = [n for n, p in members.items() if str(p.get("is_write_index")).lower() == "true"]
        if write and len(writers) == 1:
            return store.indices[writers[0]]
        raise illegal_argument(f"alias [{target}] has more than one index associated with it "
                               f"[{', '.join(sorted(members))}], can't execute a single index op")
    return store.indices[next(iter(members))]


def get_doc(store: Store, target: str, doc_id: str, source_filter) -> tuple[int, dict]:
    from .query import filter_source
    with store.lock:
        index = single_index(store, target)
        doc = index.docs.get(doc_id)
        if doc is None:
            return 404, {"_index": index.name, "_id": doc_id, "found": False}
        body = {"_index": index.name, "_id": doc.id, "_version": doc.version, "_seq_no": doc.seq_no,
                "_primary_term": 1, "found": True}
        source = filter_source(doc.source, source_filter)
        if source is not None:
            body["_source"] = source
        return 200, body


def delete_doc(store: Store, target: str, doc_id: str, params: dict) -> tuple[int, dict]:
    check_refresh(params)
    meta = {k: params[k] for k in ("if_seq_no", "if_primary_term") if k in params}
    with store.lock:
        index = single_index(store, target, write=True)
        item = _delete(index, doc_id, meta)
        store.log([b'{"op":"del","i":' + orjson.dumps(index.name) + b',"id":' + orjson.dumps(doc_id) + b',"sq":'
                   + str(index.seq_no - 1).encode() + b"}"])
    status = item.pop("status")
    return status, item


# --- journal replay ------------------------------------------------------------------------------------------


def _raw_source(line: bytes) -> bytes:
    """Cut the source bytes out of a journal doc line (``src`` is written last, see indices.doc_record).

    The key ``,"src":`` cannot occur inside an earlier JSON string, where every quote is escaped.
    """
    start = line.index(b',"src":') + 7
    return line[start:line.rstrip().rindex(b"}")]


def apply_journal_record(store: Store, record: dict, line: bytes | None = None) -> None:
    """Re-apply one journal record at start-up (no journaling, no template lookups)."""
    op = record.get("op")
    if op == "doc":
        index = store.indices[record["i"]]
        obj = record["src"]
        try:
            values = index.mapping.parse_doc(obj, record["id"])
        except MapperError as exc:
            # The journal only holds accepted writes; a refusal here means the coercion rules changed.
            import logging
            logging.getLogger(__name__).warning("journal document %s/%s no longer parses: %s", record["i"],
                                                record["id"], exc.reason)
            return
        index.put(record["id"], _raw_source(line) if line else orjson.dumps(obj), values, record.get("v"),
                  record.get("sq"))
    elif op == "del":
        index = store.indices.get(record["i"])
        if index is not None:
            index.remove(record["id"], record.get("sq"))
    elif op == "create":
        store.restore_index(record)
    elif op == "del_index":
        store.drop_index(record["index"])
    elif op == "template":
        store.put_template(record["name"], record["body"])
    elif op == "del_template":
        store.templates.pop(record["name"], None)
    elif op == "mapping":
        index = store.indices.get(record["index"])
        if index is not None:
            index.mapping.merge(record["body"])
    elif op == "aliases":
        for kind, index_name, alias, props in record["actions"]:
            store._apply_alias(kind, index_name, alias, props)
    elif op == "cluster_settings":
        store.cluster_settings["persistent"] = dict(record["persistent"])
    else:
        raise ValueError(f"unknown journal record {op!r}")
