"""The stand-in's state: indices (documents, postings, sorted columns), index templates, aliases, journal.

Every index has one shard. Documents are visible to search as soon as the write returns (no refresh
interval), so ``refresh`` parameters and ``_refresh`` are accepted and change nothing. Keyword, boolean
and text fields keep postings (value → doc numbers) so ``term``/``terms`` filters skip the scan;
numeric and date fields keep a column of (value, doc number) sorted lazily, so time ranges and sorts on
them are a bisect and a slice. Callers hold ``Store.lock`` for every operation.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
from bisect import bisect_left, bisect_right
from typing import Any, Iterable

import orjson

from .errors import EsError, index_not_found, illegal_argument, unsupported
from .journal import Journal
from .mapping import Mapping

logger = logging.getLogger(__name__)

ES_VERSION = "8.15.0"
_CREATED_VERSION = "8512000"
_ALLOWED_SETTINGS = {
    "number_of_shards", "number_of_replicas", "refresh_interval", "max_result_window", "codec",
    "auto_expand_replicas", "hidden", "mapping.total_fields.limit", "mapping.depth.limit",
    "mapping.nested_fields.limit", "mapping.field_name_length.limit", "lifecycle.name",
    "lifecycle.rollover_alias", "translog.durability", "translog.sync_interval", "translog.flush_threshold_size",
    "max_inner_result_window", "write.wait_for_active_shards", "priority", "query.default_field",
    "max_terms_count", "number_of_routing_shards", "routing.allocation.include._tier_preference",
}
_INVALID_NAME_CHARS = set('\\/*?"<>| ,#:')


def new_uuid() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def new_doc_id() -> str:
    """Return an auto-generated id of ES's length (20 URL-safe characters)."""
    return base64.urlsafe_b64encode(os.urandom(15)).decode()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def glob_regex(pattern: str) -> re.Pattern:
    """ES index patterns know only ``*``."""
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")


def _glob_match(pattern: str, name: str) -> bool:
    return bool(glob_regex(pattern).match(name))


def flatten_settings(settings: dict | None) -> dict[str, Any]:
    """Return ``{"index.x.y": "value"}`` from nested or dotted input; refuse unknown or unsupported keys."""
    flat: dict[str, Any] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            full = prefix + key
            if isinstance(value, dict):
                walk(value, full + ".")
            else:
                flat[full if full.startswith("index.") else "index." + full] = value

    if settings:
        if not isinstance(settings, dict):
            raise illegal_argument("settings must be an object")
        walk(settings, "")
    out = {}
    for key, value in flat.items():
        short = key[len("index."):]
        if short.startswith("analysis.") or short.startswith("blocks.") or short.startswith("sort."):
            raise unsupported(f"index setting [{key}]")
        if short not in _ALLOWED_SETTINGS:
            raise EsError(400, "illegal_argument_exception",
                          f"unknown setting [{key}] please check that any required plugins are installed, or check "
                          f"the breaking changes documentation for removed settings (or it is not supported by the "
                          f"Elasticsearch stand-in)")
        if value is None:
            continue
        out[key] = [str(v) for v in value] if isinstance(value, list) else (
            str(value).lower() if isinstance(value, bool) else str(value))
    if "index.number_of_shards" in out and out["index.number_of_shards"] != "1":
        try:
            if int(out["index.number_of_shards"]) < 1:
                raise ValueError
        except ValueError:
            raise illegal_argument(f"Failed to parse value [{out['index.number_of_shards']}] for setting "
                                   f"[index.number_of_shards] must be >= 1") from None
    return out


def nest_settings(flat: dict[str, Any]) -> dict:
    root: dict = {}
    for key, value in sorted(flat.items()):
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


def validate_index_name(name: str) -> None:
    reason = None
    if not name:
        reason = "must not be empty"
    elif name != name.lower():
        reason = "must be lowercase"
    elif name[0] in "_-+":
        reason = "must not start with '_', '-', or '+'"
    elif name in (".", ".."):
        reason = "must not be '.' or '..'"
    elif set(name) & _INVALID_NAME_CHARS:
        reason = "must not contain the following characters " + str(sorted(_INVALID_NAME_CHARS))
    elif len(name.encode()) > 255:
        reason = "index name is too long"
    if reason:
        raise EsError(400, "invalid_index_name_exception", f"Invalid index name [{name}], {reason}",
                      index_uuid="_na_", index=name)


class Doc:
    """A stored document: ``source`` is the original JSON bytes, ``values`` the indexed field values."""

    __slots__ = ("num", "id", "source", "values", "version", "seq_no")

    def __init__(self, num: int, doc_id: str, source: bytes, values: dict, version: int, seq_no: int):
        self.num = num
        self.id = doc_id
        self.source = source
        self.values = values
        self.version = version
        self.seq_no = seq_no


class Column:
    """(value, doc number) pairs of one numeric or date field, sorted on demand; dead entries skipped."""

    __slots__ = ("keys", "nums", "dirty", "multi", "dead")

    def __init__(self):
        self.keys: list = []
        self.nums: list[int] = []
        self.dirty = False
        self.multi = False
        self.dead = 0

    def add(self, value, num: int) -> None:
        if type(value) is tuple:
            self.multi = True
            for v in value:
                self.add(v, num)
            return
        keys = self.keys
        if keys and value < keys[-1]:
            self.dirty = True
        keys.append(value)
        self.nums.append(num)

    def prepare(self, slots: list) -> None:
        """Drop dead entries when they pile up, and sort if writes arrived out of order."""
        if self.dead and self.dead * 4 > len(self.keys):
            pairs = [(k, n) for k, n in zip(self.keys, self.nums) if slots[n] is not None]
            self.keys = [k for k, _ in pairs]
            self.nums = [n for _, n in pairs]
            self.dead = 0
        if self.dirty:
            keys = self.keys
            order = sorted(range(len(keys)), key=keys.__getitem__)
            self.keys = [keys[i] for i in order]
            nums = self.nums
            self.nums = [nums[i] for i in order]
            self.dirty = False

    def slice(self, lo_value, lo_inclusive: bool, hi_value, hi_inclusive: bool) -> tuple[int, int]:
        """Positions [i, j) of the entries within the bounds (None = unbounded); call prepare() first."""
        keys = self.keys
        if lo_value is None:
            i = 0
        else:
            i = bisect_left(keys, lo_value) if lo_inclusive else bisect_right(keys, lo_value)
        if hi_value is None:
            j = len(keys)
        else:
            j = bisect_right(keys, hi_value) if hi_inclusive else bisect_left(keys, hi_value)
        return i, max(i, j)

    def docnums(self, i: int, j: int, slots: list) -> list[int]:
        nums = self.nums[i:j]
        if self.dead:
            nums = [n for n in nums if slots[n] is not None]
        if self.multi:
            nums = list(dict.fromkeys(nums))
        return nums


class Index:
    """One index: its mapping, settings and documents."""

    def __init__(self, name: str, settings: dict[str, Any], mapping: Mapping, uuid: str | None = None,
                 created: int | None = None):
        self.name = name
        self.uuid = uuid or new_uuid()
        self.created = created or now_ms()
        self.settings = settings
        self.mapping = mapping
        self.docs: dict[str, Doc] = {}
        self.slots: list[Doc | None] = []
        self.seq_no = 0
        self.postings: dict[str, dict[Any, set[int]]] = {}
        self.columns: dict[str, Column] = {}

    @property
    def max_result_window(self) -> int:
        return int(self.settings.get("index.max_result_window", 10000))

    def settings_view(self) -> dict:
        flat = {"index.number_of_shards": "1", "index.number_of_replicas": "1"}
        flat.update(self.settings)
        flat.update({"index.uuid": self.uuid, "index.creation_date": str(self.created),
                     "index.provided_name": self.name, "index.version.created": _CREATED_VERSION})
        return nest_settings(flat)

    def live_docnums(self) -> list[int]:
        return [d.num for d in self.slots if d is not None]

    def column(self, path: str) -> Column | None:
        col = self.columns.get(path)
        if col is not None:
            col.prepare(self.slots)
        return col

    # --- writes -----------------------------------------------------------------------------------------------

    def put(self, doc_id: str, source: bytes, values: dict, version: int | None = None,
            seq_no: int | None = None) -> Doc:
        """Store a document (replacing any with the same id) and index its values."""
        old = self.docs.get(doc_id)
        if old is not None:
            self._unindex(old)
        if version is None:
            version = old.version + 1 if old is not None else 1
        if seq_no is None:
            seq_no = self.seq_no
        self.seq_no = max(self.seq_no, seq_no + 1)
        doc = Doc(len(self.slots), doc_id, source, values, version, seq_no)
        self.slots.append(doc)
        self.docs[doc_id] = doc
        fields = self.mapping.fields
        postings = self.postings
        for path, value in values.items():
            kind = fields[path].kind
            if kind == "keyword" or kind == "boolean" or kind == "text":
                post = postings.get(path)
                if post is None:
                    post = postings[path] = {}
                if type(value) is tuple:
                    for v in set(value):
                        s = post.get(v)
                        if s is None:
                            post[v] = {doc.num}
                        else:
                            s.add(doc.num)
                else:
                    s = post.get(value)
                    if s is None:
                        post[value] = {doc.num}
                    else:
                        s.add(doc.num)
            else:
                col = self.columns.get(path)
                if col is None:
                    col = self.columns[path] = Column()
                col.add(value, doc.num)
        return doc

    def remove(self, doc_id: str, seq_no: int | None = None) -> Doc | None:
        doc = self.docs.pop(doc_id, None)
        if seq_no is None:
            seq_no = self.seq_no
        self.seq_no = max(self.seq_no, seq_no + 1)
        if doc is not None:
            self._unindex(doc)
        return doc

    def _unindex(self, doc: Doc) -> None:
        self.slots[doc.num] = None
        for path, value in doc.values.items():
            post = self.postings.get(path)
            if post is not None:
                for v in (set(value) if type(value) is tuple else (value,)):
                    s = post.get(v)
                    if s is not None:
                        s.discard(doc.num)
                        if not s:
                            del post[v]
            else:
                col = self.columns.get(path)
                if col is not None:
                    col.dead += len(value) if type(value) is tuple else 1


class Template:
    """A composable index template."""

    _KEYS = {"index_patterns", "template", "priority", "version", "_meta", "composed_of", "data_stream",
             "allow_auto_create", "deprecated", "ignore_missing_component_templates"}

    def __init__(self, name: str, body: dict):
        if not isinstance(body, dict):
            raise illegal_argument("index template body must be an object")
        for key in body:
            if key not in self._KEYS:
                raise EsError(400, "x_content_parse_exception",
                              f"[1:2] [index_template] unknown field [{key}]")
        if body.get("composed_of"):
            raise unsupported("component templates ([composed_of])")
        if body.get("data_stream") is not None:
            raise unsupported("data streams ([data_stream] in an index template)")
        patterns = body.get("index_patterns")
        if isinstance(patterns, str):
            patterns = [p.strip() for p in patterns.split(",")]
        if not patterns:
            raise EsError(400, "action_request_validation_exception",
                          "Validation Failed: 1: index patterns are missing;")
        self.name = name
        self.patterns: list[str] = list(patterns)
        self.priority = int(body.get("priority") or 0)
        self.body = dict(body)
        self.body["index_patterns"] = self.patterns
        template = body.get("template") or {}
        extra = set(template) - {"settings", "mappings", "aliases", "lifecycle"}
        if extra:
            raise EsError(400, "x_content_parse_exception", f"[template] unknown field [{sorted(extra)[0]}]")
        if template.get("lifecycle"):
            raise unsupported("data stream lifecycle in a template")
        self.settings = flatten_settings(template.get("settings"))
        self.mappings = template.get("mappings") or {}
        Mapping().merge(self.mappings)  # validate now, as ES does at PUT time
        self.aliases = template.get("aliases") or {}
        for alias, props in self.aliases.items():
            _validate_alias_props(alias, props)

    def matches(self, name: str) -> bool:
        return any(_glob_match(p, name) for p in self.patterns)

    def to_dict(self) -> dict:
        out = {"index_patterns": self.patterns}
        template = {}
        if self.settings:
            template["settings"] = nest_settings(self.settings)
        if self.mappings:
            m = Mapping()
            m.merge(self.mappings)
            template["mappings"] = m.to_dict()
        if self.aliases:
            template["aliases"] = self.aliases
        if template:
            out["template"] = template
        out["composed_of"] = []
        for key in ("priority", "version", "_meta", "allow_auto_create"):
            if key in self.body:
                out[key] = self.body[key]
        return out


def _validate_alias_props(alias: str, props: Any) -> dict:
    props = props or {}
    if not isinstance(props, dict):
        raise illegal_argument(f"alias [{alias}] must be an object")
    for key in props:
        if key == "filter":
            raise unsupported("filtered aliases")
        if key not in ("is_write_index", "routing", "index_routing", "search_routing", "is_hidden"):
            raise EsError(400, "illegal_argument_exception", f"Unsupported field [{key}]")
    return props


def _patterns_overlap(a: str, b: str) -> bool:
    if _glob_match(a, b.replace("*", "")) or _glob_match(b, a.replace("*", "")):
        return True
    pa, pb = a.split("*")[0], b.split("*")[0]
    return "*" in a and "*" in b and (pa.startswith(pb) or pb.startswith(pa))


# Cluster settings the stand-in knows, with ES 8's defaults (one node, so per node is per cluster).
CLUSTER_SETTINGS = {"cluster.max_shards_per_node": "1000"}


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


def _shard_count(settings: dict[str, Any]) -> int:
    primaries = int(settings.get("index.number_of_shards", 1))
    auto = settings.get("index.auto_expand_replicas")
    if auto not in (None, "false", False):
        replicas = int(str(auto).split("-")[0])
    else:
        replicas = int(settings.get("index.number_of_replicas", 1))
    return primaries * (1 + replicas)


class Store:
    """All indices, templates and aliases, with their journal; one lock serialises every operation."""

    def __init__(self, data_path: str | None = None, fsync: bool = False):
        self.lock = threading.RLock()
        self.indices: dict[str, Index] = {}
        self.templates: dict[str, Template] = {}
        self.aliases: dict[str, dict[str, dict]] = {}
        self.cluster_settings: dict[str, dict[str, str]] = {"persistent": {}, "transient": {}}
        self.journal: Journal | None = None
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
        from .documents import apply_journal_record
        self._replaying = True
        started = time.monotonic()
        count = 0
        try:
            for record, line in self.journal.read():
                apply_journal_record(self, record, line)
                count += 1
        finally:
            self._replaying = False
        if count:
            logger.info("replayed %d journal records in %.2fs", count, time.monotonic() - started,
                        extra={"docs": sum(len(i.docs) for i in self.indices.values())})

    def _live_records(self) -> int:
        return (len(self.templates) + len(self.indices) + sum(len(i.docs) for i in self.indices.values()))

    def _maybe_compact(self) -> None:
        live = self._live_records()
        # Compact when at least a third of the journal is superseded (rewrites, deletes, dropped indices).
        if self.journal.records_written > 1.5 * live + 1000:
            before = self.journal.records_written
            self.journal.rewrite(self.snapshot_lines())
            logger.info("compacted the journal from %d to %d records", before, self.journal.records_written)

    def snapshot_lines(self) -> Iterable[bytes]:
        if self.cluster_settings["persistent"]:
            yield orjson.dumps({"op": "cluster_settings", "persistent": self.cluster_settings["persistent"]})
        for name, template in self.templates.items():
            yield orjson.dumps({"op": "template", "name": name, "body": template.body})
        for index in self.indices.values():
            yield orjson.dumps(self.create_record(index))
            name = orjson.dumps(index.name)
            for doc in index.slots:
                if doc is not None:
                    yield doc_record(name, doc)

    def create_record(self, index: Index) -> dict:
        return {"op": "create", "index": index.name, "uuid": index.uuid, "created": index.created,
                "settings": index.settings, "mappings": index.mapping.to_dict(), "seq": index.seq_no,
                "aliases": {a: m[index.name] for a, m in self.aliases.items() if index.name in m}}

    def close(self) -> None:
        with self.lock:
            if self.journal is not None:
                self.journal.close()

    # --- name resolution ------------------------------------------------------------------------------------

    def resolve(self, expr: str | None, *, ignore_unavailable: bool = False, allow_no_indices: bool = True
                ) -> list[Index]:
        """Expand a comma list of names, aliases and ``*`` patterns (``-x`` excludes) to indices."""
        chosen: dict[str, None] = {}
        parts = [p for p in (expr or "_all").split(",") if p != ""]
        if parts in (["_all"], ["*"]):
            parts = ["*"]
        saw_wildcard = False
        for part in parts:
            if part.startswith("-") and saw_wildcard:
                pattern = part[1:]
                for name in list(chosen):
                    if _glob_match(pattern, name) or name in self.aliases.get(pattern, {}):
                        del chosen[name]
                continue
            if "*" in part or part == "_all":
                saw_wildcard = True
                pattern = "*" if part == "_all" else part
                found = False
                for name in sorted(self.indices):
                    if name.startswith(".") and not pattern.startswith("."):
                        continue
                    if _glob_match(pattern, name):
                        chosen[name] = None
                        found = True
                for alias in sorted(self.aliases):
                    if (not alias.startswith(".") or pattern.startswith(".")) and _glob_match(pattern, alias):
                        for name in sorted(self.aliases[alias]):
                            chosen[name] = None
                            found = True
                if not found and not allow_no_indices:
                    raise index_not_found(part)
                continue
            if part in self.indices:
                chosen[part] = None
            elif part in self.aliases:
                for name in sorted(self.aliases[part]):
                    chosen[name] = None
            elif not ignore_unavailable:
                raise index_not_found(part)
        if not chosen and not allow_no_indices:
            raise index_not_found(expr or "_all")
        return [self.indices[n] for n in chosen]

    def write_index(self, name: str, *, auto_create: bool = True) -> Index:
        """Return the index a write to ``name`` goes to, creating it (with templates) when missing."""
        index = self.indices.get(name)
        if index is not None:
            return index
        members = self.aliases.get(name)
        if members:
            writers = [n for n, p in members.items() if str(p.get("is_write_index")).lower() == "true"]
            if len(members) == 1 and str(next(iter(members.values())).get("is_write_index")).lower() != "false":
                return self.indices[next(iter(members))]
            if len(writers) == 1:
                return self.indices[writers[0]]
            raise illegal_argument(f"no write index is defined for alias [{name}]. The write index may be explicitly "
                                   f"disabled using is_write_index=false or the alias points to multiple indices "
                                   f"without one being designated as a write index")
        if not auto_create:
            raise index_not_found(name)
        return self.create_index(name, None, auto=True)

    # --- indices --------------------------------------------------------------------------------------------

    def matching_template(self, name: str) -> Template | None:
        best = None
        for template in self.templates.values():
            if template.matches(name) and (best is None or template.priority > best.priority):
                best = template
        return best

    def create_index(self, name: str, body: dict | None, *, auto: bool = False) -> Index:
        """Create an index, applying the highest-priority matching template under the request's own body."""
        validate_index_name(name)
        if name in self.indices:
            idx = self.indices[name]
            raise EsError(400, "resource_already_exists_exception", f"index [{name}/{idx.uuid}] already exists",
                          index_uuid=idx.uuid, index=name)
        if name in self.aliases:
            raise EsError(400, "invalid_index_name_exception", f"Invalid index name [{name}], already exists as alias",
                          index_uuid="_na_", index=name)
        body = body or {}
        if not isinstance(body, dict):
            raise illegal_argument("request body must be an object")
        for key in body:
            if key not in ("settings", "mappings", "aliases"):
                raise EsError(400, "parse_exception", f"unknown key [{key}] for create index")
        template = self.matching_template(name)
        settings: dict[str, Any] = {}
        mapping = Mapping()
        aliases: dict[str, dict] = {}
        if template is not None:
            settings.update(template.settings)
            mapping.merge(template.mappings)
            aliases.update({a: dict(p or {}) for a, p in template.aliases.items()})
        settings.update(flatten_settings(body.get("settings")))
        mapping.merge(body.get("mappings"), replace=True)
        for alias, props in (body.get("aliases") or {}).items():
            aliases[alias] = dict(_validate_alias_props(alias, props))
        for alias in aliases:
            if alias in self.indices or alias == name:
                raise EsError(400, "invalid_alias_name_exception",
                              f"Invalid alias name [{alias}]: an index or data stream exists with the same name as "
                              f"the alias", index_uuid="_na_", index=alias)
        self._check_shard_limit(settings)
        index = Index(name, settings, mapping)
        self.indices[name] = index
        for alias, props in aliases.items():
            self.aliases.setdefault(alias, {})[name] = props
        self.log_record(self.create_record(index))
        return index

    # --- cluster settings and the shard limit -----------------------------------------------------------------

    def put_cluster_settings(self, body: dict) -> dict:
        """``PUT /_cluster/settings``: only ``cluster.max_shards_per_node`` is known; null resets it."""
        if not isinstance(body, dict) or not body or set(body) - {"persistent", "transient"}:
            raise EsError(400, "action_request_validation_exception",
                          "Validation Failed: 1: no settings to update;")
        changed: dict[str, dict] = {}
        for scope in ("persistent", "transient"):
            flat = _flatten_cluster(body.get(scope) or {})
            for key, value in flat.items():
                if key not in CLUSTER_SETTINGS:
                    raise illegal_argument(f"{scope} setting [{key}], not recognized")
                if value is not None:
                    try:
                        if int(value) < 1:
                            raise ValueError
                    except ValueError:
                        raise illegal_argument(f"Failed to parse value [{value}] for setting [{key}] must be >= 1") \
                            from None
            changed[scope] = flat
        for scope, flat in changed.items():
            for key, value in flat.items():
                if value is None:
                    self.cluster_settings[scope].pop(key, None)
                else:
                    self.cluster_settings[scope][key] = str(value)
        if changed.get("persistent"):
            self.log_record({"op": "cluster_settings", "persistent": self.cluster_settings["persistent"]})
        # ES echoes what changed, values as strings.
        return {scope: nest_settings({k: v if v is None else str(v) for k, v in flat.items()})
                for scope, flat in changed.items()}

    def cluster_setting(self, key: str) -> str:
        """Transient over persistent over the default, as in ES."""
        return (self.cluster_settings["transient"].get(key) or self.cluster_settings["persistent"].get(key)
                or CLUSTER_SETTINGS[key])

    def _check_shard_limit(self, settings: dict[str, Any]) -> None:
        """Refuse an index whose shards would exceed ``cluster.max_shards_per_node`` x nodes (one node here).

        Replicas count although a single node cannot assign them, as in ES; ``auto_expand_replicas`` expands to
        its lower bound on one node.
        """
        limit = int(self.cluster_setting("cluster.max_shards_per_node"))
        adding = _shard_count(settings)
        current = sum(_shard_count(index.settings) for index in self.indices.values())
        if current + adding > limit:
            raise EsError(400, "validation_exception",
                          f"Validation Failed: 1: this action would add [{adding}] shards, but this cluster "
                          f"currently has [{current}]/[{limit}] maximum normal shards open;")

    def restore_index(self, record: dict) -> None:
        mapping = Mapping()
        mapping.merge(record.get("mappings"))
        index = Index(record["index"], record.get("settings") or {}, mapping, record.get("uuid"),
                      record.get("created"))
        index.seq_no = int(record.get("seq") or 0)
        self.indices[index.name] = index
        for alias, props in (record.get("aliases") or {}).items():
            self.aliases.setdefault(alias, {})[index.name] = props

    def delete_indices(self, expr: str, *, ignore_unavailable: bool = False, allow_no_indices: bool = True) -> None:
        if any("*" in p or p == "_all" for p in expr.split(",")):
            raise illegal_argument("Wildcard expressions or all indices are not allowed")
        for part in expr.split(","):
            if part in self.aliases and part not in self.indices:
                raise illegal_argument(f"The provided expression [{part}] matches an alias, specify the corresponding "
                                       f"concrete indices instead.")
        for index in self.resolve(expr, ignore_unavailable=ignore_unavailable, allow_no_indices=allow_no_indices):
            self.drop_index(index.name)
            self.log_record({"op": "del_index", "index": index.name})

    def drop_index(self, name: str) -> None:
        self.indices.pop(name, None)
        for alias in list(self.aliases):
            self.aliases[alias].pop(name, None)
            if not self.aliases[alias]:
                del self.aliases[alias]

    def put_mapping(self, indices: list[Index], body: dict) -> None:
        for index in indices:  # validate against each before changing any
            trial = Mapping()
            trial.merge(index.mapping.to_dict())
            trial.merge(body)
        for index in indices:
            index.mapping.merge(body)
            self.log_record({"op": "mapping", "index": index.name, "body": body})

    # --- templates ------------------------------------------------------------------------------------------

    def put_template(self, name: str, body: dict, *, create: bool = False) -> None:
        if create and name in self.templates:
            raise illegal_argument(f"index template [{name}] already exists")
        template = Template(name, body)
        for other in self.templates.values():
            if other.name == name or other.priority != template.priority:
                continue
            clash = [p for p in template.patterns if any(_patterns_overlap(p, q) for q in other.patterns)]
            if clash:
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
        found = [self.templates[n] for n in sorted(self.templates)
                 if any(_glob_match(p, n) for p in name.split(","))]
        if not found:
            raise EsError(404, "resource_not_found_exception", f"index template matching [{name}] not found")
        return found

    def delete_template(self, name: str) -> None:
        names = [t.name for t in self.find_templates(name)]
        for n in names:
            del self.templates[n]
            self.log_record({"op": "del_template", "name": n})

    # --- aliases --------------------------------------------------------------------------------------------

    def update_aliases(self, actions: list) -> None:
        """Apply ``POST /_aliases`` actions atomically (validate all, then apply)."""
        if not isinstance(actions, list) or not actions:
            raise EsError(400, "action_request_validation_exception",
                          "Validation Failed: 1: no actions specified;")
        planned: list[tuple[str, str, str, dict]] = []
        for action in actions:
            if not isinstance(action, dict) or len(action) != 1:
                raise illegal_argument("each alias action must be an object with one key")
            kind, spec = next(iter(action.items()))
            if kind not in ("add", "remove", "remove_index"):
                raise EsError(400, "illegal_argument_exception", f"Unsupported action [{kind}]")
            spec = dict(spec or {})
            index_names = _as_list(spec.pop("index", None)) + _as_list(spec.pop("indices", None))
            alias_names = _as_list(spec.pop("alias", None)) + _as_list(spec.pop("aliases", None))
            must_exist = spec.pop("must_exist", None)
            if not index_names:
                raise EsError(400, "action_request_validation_exception",
                              "Validation Failed: 1: One of [index] or [indices] is required;")
            targets = self.resolve(",".join(index_names), allow_no_indices=False)
            if kind == "remove_index":
                for index in targets:
                    planned.append((kind, index.name, "", {}))
                continue
            if not alias_names:
                raise EsError(400, "action_request_validation_exception",
                              "Validation Failed: 1: One of [alias] or [aliases] is required;")
            for alias in alias_names:
                if kind == "add":
                    props = _validate_alias_props(alias, spec)
                    if alias in self.indices:
                        raise EsError(400, "invalid_alias_name_exception",
                                      f"Invalid alias name [{alias}]: an index or data stream exists with the same "
                                      f"name as the alias", index_uuid="_na_", index=alias)
                    for index in targets:
                        planned.append((kind, index.name, alias, props))
                else:
                    hit = [i for i in targets if any(_glob_match(alias, a) and i.name in m
                                                     for a, m in self.aliases.items())]
                    if not hit and must_exist is not False:
                        raise EsError(404, "aliases_not_found_exception", f"aliases [{alias}] missing",
                                      **{"resource.type": "aliases", "resource.id": alias})
                    for index in hit:
                        for a, members in self.aliases.items():
                            if _glob_match(alias, a) and index.name in members:
                                planned.append((kind, index.name, a, {}))
        for kind, index_name, alias, props in planned:
            self._apply_alias(kind, index_name, alias, props)
        self.log_record({"op": "aliases", "actions": [list(p) for p in planned]})

    def _apply_alias(self, kind: str, index_name: str, alias: str, props: dict) -> None:
        if kind == "add":
            self.aliases.setdefault(alias, {})[index_name] = dict(props)
        elif kind == "remove":
            members = self.aliases.get(alias, {})
            members.pop(index_name, None)
            if not members:
                self.aliases.pop(alias, None)
        elif kind == "remove_index":
            self.drop_index(index_name)

    def aliases_of(self, index_name: str) -> dict:
        return {a: dict(m[index_name]) for a, m in sorted(self.aliases.items()) if index_name in m}


def doc_record(index_name_json: bytes, doc: Doc) -> bytes:
    """Serialize a document write for the journal without re-encoding its source."""
    return (b'{"op":"doc","i":' + index_name_json + b',"id":' + orjson.dumps(doc.id) + b',"v":'
            + str(doc.version).encode() + b',"sq":' + str(doc.seq_no).encode() + b',"src":' + doc.source + b"}")


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return [str(v) for v in value]


def _list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"
