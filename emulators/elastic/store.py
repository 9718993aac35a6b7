"""The stand-in's state: indices, index templates, aliases and cluster settings, kept durable by the journal.

Callers hold ``Store.lock`` for every operation. Each change is appended to the journal (see ``journal.py``) before
the caller answers, and replayed at start; the journal is compacted at start once a third of it is superseded.
The cluster knows two persistent settings: ``cluster.max_shards_per_node``, which bounds index creation, and
``action.destructive_requires_name``, which refuses index deletes by wildcard unless false, as in ES.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Iterable

import orjson

from .errors import EsError, MapperError, illegal_argument, index_not_found, unsupported
from .indices import Doc, Index, flatten_settings, glob_match, nest_settings, shard_count, validate_index_name
from .journal import Journal
from .mapping import Mapping
from .pit import PointsInTime
from .tasks import Tasks
from .templates import Template, validate_aliases

logger = logging.getLogger(__name__)

MAX_SHARDS_PER_NODE = "cluster.max_shards_per_node"
DEFAULT_MAX_SHARDS_PER_NODE = 1000  # ES 8's default; one node here, so it is the cluster's limit
# ES 8 refuses index deletes by wildcard or _all unless this persistent setting is false (its default is true).
DESTRUCTIVE_REQUIRES_NAME = "action.destructive_requires_name"
CLUSTER_SETTINGS = (MAX_SHARDS_PER_NODE, DESTRUCTIVE_REQUIRES_NAME)


def doc_record(index_name_json: bytes, doc: Doc) -> bytes:
    """Serialize a document write for the journal without re-encoding its source (``src`` comes last)."""
    return (b'{"op":"doc","i":' + index_name_json + b',"id":' + orjson.dumps(doc.id) + b',"v":'
            + str(doc.version).encode() + b',"sq":' + str(doc.seq_no).encode() + b',"src":' + doc.source + b"}")


def delete_record(index_name_json: bytes, doc_id: str, seq_no: int) -> bytes:
    return b'{"op":"del","i":' + index_name_json + b',"id":' + orjson.dumps(doc_id) + b',"sq":' \
        + str(seq_no).encode() + b"}"


def _raw_source(line: bytes) -> bytes:
    """Cut the source bytes out of a journal doc line (``src`` is written last, see doc_record).

    The key ``,"src":`` cannot occur inside an earlier JSON string, where every quote is escaped.
    """
    start = line.index(b',"src":') + 7
    return line[start:line.rstrip().rindex(b"}")]


class Store:
    """All indices, templates and aliases, with their journal; one lock serialises every operation."""

    def __init__(self, data_path: str | None = None, fsync: bool = False):
        self.lock = threading.RLock()
        self.indices: dict[str, Index] = {}
        self.templates: dict[str, Template] = {}
        self.aliases: dict[str, set[str]] = {}  # alias -> the names of its indices
        self.cluster_settings: dict[str, str] = {}  # persistent ones
        self.journal: Journal | None = None
        self.tasks = Tasks()  # background requests (not journaled: see tasks.py)
        self.pits = PointsInTime()  # not journaled: ES loses them on a restart too
        self._replaying = False
        if data_path:
            path = data_path
            if os.path.isdir(path):
                path = os.path.join(path, "elastic-journal.jsonl")
            self.journal = Journal(path, fsync=fsync)
            self._replay()
            self.journal.open()
            self._maybe_compact()

    # --- journal ----------------------------------------------------------------------------------------------

    def log(self, lines: list[bytes]) -> None:
        """Persist serialized journal records; flushed before the caller answers."""
        if self.journal is not None and not self._replaying:
            self.journal.append(lines)

    def log_record(self, record: dict) -> None:
        self.log([orjson.dumps(record)])

    def _replay(self) -> None:
        self._replaying = True
        started = time.monotonic()
        count = 0
        try:
            for record, line in self.journal.read():
                self._apply(record, line)
                count += 1
        finally:
            self._replaying = False
        if count:
            logger.info("replayed %d journal records in %.2fs", count, time.monotonic() - started,
                        extra={"docs": sum(len(i.docs) for i in self.indices.values())})

    def _apply(self, record: dict, line: bytes) -> None:
        """Re-apply one journal record at start-up (no journaling, no template lookups)."""
        op = record.get("op")
        if op == "doc":
            index = self.indices[record["i"]]
            try:
                values = index.mapping.parse_doc(record["src"], record["id"])
            except (MapperError, EsError) as exc:
                # The journal only holds accepted writes; a refusal here means the coercion rules changed.
                logger.warning("journal document %s/%s no longer parses: %s", record["i"], record["id"], exc)
                return
            index.put(record["id"], _raw_source(line), values, record.get("v"), record.get("sq"))
        elif op == "del":
            index = self.indices.get(record["i"])
            if index is not None:
                index.remove(record["id"], record.get("sq"))
        elif op == "create":
            self._restore_index(record)
        elif op == "del_index":
            self.drop_index(record["index"])
        elif op == "template":
            self.put_template(record["name"], record["body"])
        elif op == "del_template":
            self.templates.pop(record["name"], None)
        elif op == "cluster_settings":
            self.cluster_settings = dict(record["persistent"])
        else:
            raise ValueError(f"unknown journal record {op!r}")

    def _maybe_compact(self) -> None:
        live = len(self.templates) + len(self.indices) + sum(len(i.docs) for i in self.indices.values())
        # Compact when at least a third of the journal is superseded (rewrites, deletes, dropped indices).
        if self.journal.records_written > 1.5 * live + 1000:
            before = self.journal.records_written
            self.journal.rewrite(self._snapshot_lines())
            logger.info("compacted the journal from %d to %d records", before, self.journal.records_written)

    def _snapshot_lines(self) -> Iterable[bytes]:
        if self.cluster_settings:
            yield orjson.dumps({"op": "cluster_settings", "persistent": self.cluster_settings})
        for name, template in self.templates.items():
            yield orjson.dumps({"op": "template", "name": name, "body": template.body})
        for index in self.indices.values():
            yield orjson.dumps(self._create_record(index))
            name = orjson.dumps(index.name)
            for doc in index.slots:
                if doc is not None:
                    yield doc_record(name, doc)

    def _create_record(self, index: Index) -> dict:
        return {"op": "create", "index": index.name, "uuid": index.uuid, "created": index.created,
                "settings": index.settings, "mappings": index.mapping.to_dict(), "seq": index.seq_no,
                "aliases": self.aliases_of(index.name)}

    def _restore_index(self, record: dict) -> None:
        mapping = Mapping()
        mapping.merge(record.get("mappings"))
        index = Index(record["index"], record.get("settings") or {}, mapping, record.get("uuid"), record.get("created"))
        index.seq_no = int(record.get("seq") or 0)
        self.indices[index.name] = index
        for alias in record.get("aliases") or {}:
            self.aliases.setdefault(alias, set()).add(index.name)

    def close(self) -> None:
        with self.lock:
            if self.journal is not None:
                self.journal.close()

    # --- name resolution ------------------------------------------------------------------------------------

    def resolve(self, expr: str | None, *, ignore_unavailable: bool = False, allow_no_indices: bool = True
                ) -> list[Index]:
        """Expand a comma list of index names, aliases and ``*`` patterns to indices."""
        chosen: dict[str, None] = {}
        parts = [p for p in (expr or "_all").split(",") if p != ""]
        for part in parts:
            if part.startswith("-"):
                raise unsupported(f"excluding indices from a target ([{part}])")
            if "*" in part or part == "_all":
                pattern = "*" if part == "_all" else part
                found = [name for name in sorted(self.indices) if glob_match(pattern, name)]
                for alias in sorted(self.aliases):
                    if glob_match(pattern, alias):
                        found.extend(sorted(self.aliases[alias]))
                if not found and not allow_no_indices:
                    raise index_not_found(part)
                chosen.update(dict.fromkeys(found))
            elif part in self.indices:
                chosen[part] = None
            elif part in self.aliases:
                chosen.update(dict.fromkeys(sorted(self.aliases[part])))
            elif not ignore_unavailable:
                raise index_not_found(part)
        if not chosen and not allow_no_indices:
            raise index_not_found(expr or "_all")
        return [self.indices[n] for n in chosen]

    def single_index(self, name: str) -> Index:
        """The index a single-document read of ``name`` (an index, or an alias of one index) goes to."""
        members = [] if name in self.indices else sorted(self.aliases.get(name, ()))
        if len(members) > 1:
            raise illegal_argument(f"alias [{name}] has more than one index associated with it "
                                   f"[{', '.join(members)}], can't execute a single index op")
        index = self.indices.get(members[0] if members else name)
        if index is None:
            raise index_not_found(name)
        return index

    def write_index(self, name: str) -> Index:
        """Return the index a write to ``name`` goes to, creating it (with templates) when missing."""
        index = self.indices.get(name)
        if index is not None:
            return index
        members = self.aliases.get(name)
        if members:
            if len(members) == 1:
                return self.indices[next(iter(members))]
            raise illegal_argument(f"no write index is defined for alias [{name}]. The write index may be explicitly "
                                   f"disabled using is_write_index=false or the alias points to multiple indices "
                                   f"without one being designated as a write index")
        return self.create_index(name, None)

    # --- indices --------------------------------------------------------------------------------------------

    def create_index(self, name: str, body: Any) -> Index:
        """Create an index, applying the highest-priority matching template under the request's own body."""
        validate_index_name(name)
        if name in self.indices:
            uuid = self.indices[name].uuid
            raise EsError(400, "resource_already_exists_exception", f"index [{name}/{uuid}] already exists",
                          index_uuid=uuid, index=name)
        if name in self.aliases:
            raise EsError(400, "invalid_index_name_exception", f"Invalid index name [{name}], already exists as alias",
                          index_uuid="_na_", index=name)
        body = body or {}
        if not isinstance(body, dict):
            raise illegal_argument("request body must be an object")
        for key in body:
            if key not in ("settings", "mappings", "aliases"):
                raise EsError(400, "parse_exception", f"unknown key [{key}] for create index")
        template = self._matching_template(name)
        settings: dict[str, str] = {}
        mapping = Mapping()
        aliases: dict[str, dict] = {}
        if template is not None:
            settings.update(template.settings)
            mapping.merge(template.mappings)
            aliases.update(template.aliases)
        settings.update(flatten_settings(body.get("settings")))
        mapping.merge(body.get("mappings"))
        aliases.update(validate_aliases(body.get("aliases")))
        for alias in aliases:
            if alias in self.indices or alias == name:
                raise EsError(400, "invalid_alias_name_exception",
                              f"Invalid alias name [{alias}]: an index or data stream exists with the same name as "
                              f"the alias", index_uuid="_na_", index=alias)
        self._check_shard_limit(settings)
        index = Index(name, settings, mapping)
        self.indices[name] = index
        for alias in aliases:
            self.aliases.setdefault(alias, set()).add(name)
        self.log_record(self._create_record(index))
        return index

    def _matching_template(self, name: str) -> Template | None:
        best = None
        for template in self.templates.values():
            if template.matches(name) and (best is None or template.priority > best.priority):
                best = template
        return best

    def delete_indices(self, expr: str, *, ignore_unavailable: bool = False, allow_no_indices: bool = True
                       ) -> list[str]:
        """Drop the indices ``expr`` names (wildcards only when ``action.destructive_requires_name`` is false)."""
        wildcard = any("*" in p or p == "_all" for p in expr.split(","))
        if wildcard and self.cluster_settings.get(DESTRUCTIVE_REQUIRES_NAME, "true") != "false":
            raise illegal_argument("Wildcard expressions or all indices are not allowed")
        for part in expr.split(","):
            if part in self.aliases and part not in self.indices:
                raise illegal_argument(f"The provided expression [{part}] matches an alias, specify the corresponding "
                                       f"concrete indices instead.")
        dropped = []
        for index in self.resolve(expr, ignore_unavailable=ignore_unavailable, allow_no_indices=allow_no_indices):
            self.drop_index(index.name)
            self.log_record({"op": "del_index", "index": index.name})
            dropped.append(index.name)
        return dropped

    def drop_index(self, name: str) -> None:
        self.indices.pop(name, None)
        for alias in list(self.aliases):
            self.aliases[alias].discard(name)
            if not self.aliases[alias]:
                del self.aliases[alias]

    def aliases_of(self, index_name: str) -> dict:
        return {alias: {} for alias, members in sorted(self.aliases.items()) if index_name in members}

    # --- cluster settings and the shard limit -----------------------------------------------------------------

    def put_cluster_settings(self, body: Any) -> dict:
        """``PUT /_cluster/settings``: only the persistent ``CLUSTER_SETTINGS`` are known; null resets one."""
        if not isinstance(body, dict) or not body.get("persistent") or set(body) - {"persistent", "transient"}:
            raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: no settings to update;")
        if body.get("transient"):
            raise unsupported("transient cluster settings")
        changed = _flatten_cluster(body["persistent"])
        for key, value in changed.items():
            if key not in CLUSTER_SETTINGS:
                raise illegal_argument(f"persistent setting [{key}], not recognized")
            if key == DESTRUCTIVE_REQUIRES_NAME:
                if value is not None and str(value).lower() not in ("true", "false"):
                    raise illegal_argument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
            elif value is not None:
                try:
                    if int(value) < 1:
                        raise ValueError
                except ValueError:
                    raise illegal_argument(f"Failed to parse value [{value}] for setting [{key}] must be >= 1") \
                        from None
        for key, value in changed.items():
            if value is None:
                self.cluster_settings.pop(key, None)
            else:
                self.cluster_settings[key] = str(value).lower()
        self.log_record({"op": "cluster_settings", "persistent": self.cluster_settings})
        # ES echoes what changed, values as strings.
        return nest_settings({k: v if v is None else str(v) for k, v in changed.items()})

    def _check_shard_limit(self, settings: dict[str, str]) -> None:
        """Refuse an index whose shards would exceed ``cluster.max_shards_per_node`` x nodes (one node here).

        Replicas count although a single node cannot assign them, as in ES.
        """
        limit = int(self.cluster_settings.get(MAX_SHARDS_PER_NODE, DEFAULT_MAX_SHARDS_PER_NODE))
        adding = shard_count(settings)
        current = sum(shard_count(index.settings) for index in self.indices.values())
        if current + adding > limit:
            raise EsError(400, "validation_exception",
                          f"Validation Failed: 1: this action would add [{adding}] shards, but this cluster "
                          f"currently has [{current}]/[{limit}] maximum normal shards open;")

    # --- templates ------------------------------------------------------------------------------------------

    def put_template(self, name: str, body: Any) -> None:
        template = Template(name, body)
        for other in self.templates.values():
            if other.name != name and other.priority == template.priority and template.overlaps(other):
                raise illegal_argument(
                    f"index template [{name}] has index patterns {_list(template.patterns)} matching patterns from "
                    f"existing templates [{other.name}] with patterns ({other.name} => {_list(other.patterns)}) "
                    f"that have the same priority [{template.priority}], multiple index templates may not match "
                    f"during index creation, please use a different priority")
        self.templates[name] = template
        self.log_record({"op": "template", "name": name, "body": template.body})

    def find_templates(self, name: str | None) -> list[Template]:
        if not name or name == "*":
            return [self.templates[n] for n in sorted(self.templates)]
        found = [self.templates[n] for n in sorted(self.templates) if any(glob_match(p, n) for p in name.split(","))]
        if not found:
            raise EsError(404, "resource_not_found_exception", f"index template matching [{name}] not found")
        return found

    def delete_template(self, name: str) -> None:
        for template in self.find_templates(name):
            del self.templates[template.name]
            self.log_record({"op": "del_template", "name": template.name})


def _flatten_cluster(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        raise illegal_argument("cluster settings must be an object")
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat.update(_flatten_cluster(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"
