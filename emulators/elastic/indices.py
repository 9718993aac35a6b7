"""One index: its settings, mapping and documents, with postings and sorted columns for fast matching.

Every index has one shard. Documents are visible to search as soon as the write returns (no refresh interval).
Keyword and boolean fields keep postings (value → doc numbers) so ``term``/``terms`` filters skip the scan;
numeric and date fields keep a column of (value, doc number) sorted lazily, so time ranges and sorts on them
are a bisect and a slice.
"""

from __future__ import annotations

import base64
import os
import re
import time
from bisect import bisect_left, bisect_right
from typing import Any

from .errors import EsError, illegal_argument
from .mapping import POSTINGS_TYPES, Mapping

ES_VERSION = "8.15.0"
MAX_RESULT_WINDOW = 10_000  # ES's default index.max_result_window (the setting itself is not supported)
_CREATED_VERSION = "8512000"
_SETTINGS = {"index.number_of_shards": 1, "index.number_of_replicas": 0}  # the supported ones, with their minimum
_INVALID_NAME_CHARS = set('\\/*?"<>| ,#:')


def new_uuid() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def glob_regex(pattern: str) -> re.Pattern:
    """ES name and field patterns know only ``*``."""
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")


def glob_match(pattern: str, name: str) -> bool:
    return bool(glob_regex(pattern).match(name))


def flatten_settings(settings: Any) -> dict[str, str]:
    """Return ``{"index.x": "value"}`` from nested or dotted input; refuse settings the stand-in does not know."""
    flat: dict[str, Any] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                full = prefix + key
                flat[full if full.startswith("index.") else "index." + full] = value

    if settings:
        if not isinstance(settings, dict):
            raise illegal_argument("settings must be an object")
        walk(settings, "")
    out = {}
    for key, value in flat.items():
        if key not in _SETTINGS:
            raise illegal_argument(f"unknown setting [{key}] please check that any required plugins are installed, "
                                   f"or check the breaking changes documentation for removed settings (or it is not "
                                   f"supported by the Elasticsearch stand-in)")
        if value is None:
            continue
        try:
            if int(str(value)) < _SETTINGS[key]:
                raise ValueError
        except ValueError:
            raise illegal_argument(f"Failed to parse value [{value}] for setting [{key}] must be >= "
                                   f"{_SETTINGS[key]}") from None
        out[key] = str(value)
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


def shard_count(settings: dict[str, str]) -> int:
    """Primaries and replicas of an index, as the cluster's shard limit counts them (ES defaults: 1 and 1)."""
    return int(settings.get("index.number_of_shards", 1)) * (1 + int(settings.get("index.number_of_replicas", 1)))


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

    __slots__ = ("keys", "nums", "dirty", "dead")

    def __init__(self):
        self.keys: list = []
        self.nums: list[int] = []
        self.dirty = False
        self.dead = 0

    def add(self, value, num: int) -> None:
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
        return nums


class Index:
    """One index: its mapping, settings and documents."""

    def __init__(self, name: str, settings: dict[str, str], mapping: Mapping, uuid: str | None = None,
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

    def settings_view(self) -> dict:
        flat = {"index.number_of_shards": "1", "index.number_of_replicas": "1"}
        flat.update(self.settings)
        flat.update({"index.uuid": self.uuid, "index.creation_date": str(self.created),
                     "index.provided_name": self.name, "index.version.created": _CREATED_VERSION})
        return nest_settings(flat)

    def live_docnums(self) -> list[int]:
        return [d.num for d in self.slots if d is not None]

    def values_of(self, path: str) -> set:
        """The distinct values of field ``path`` in the index's live documents."""
        post = self.postings.get(path)
        if post is not None:
            return set(post)
        col = self.column(path)
        return set() if col is None else {k for k, n in zip(col.keys, col.nums) if self.slots[n] is not None}

    def column(self, path: str) -> Column | None:
        col = self.columns.get(path)
        if col is not None:
            col.prepare(self.slots)
        return col

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
        for path, value in values.items():
            if fields[path].type in POSTINGS_TYPES:
                post = self.postings.get(path)
                if post is None:
                    post = self.postings[path] = {}
                nums = post.get(value)
                if nums is None:
                    post[value] = {doc.num}
                else:
                    nums.add(doc.num)
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
                nums = post.get(value)
                if nums is not None:
                    nums.discard(doc.num)
                    if not nums:
                        del post[value]
            else:
                col = self.columns.get(path)
                if col is not None:
                    col.dead += 1
