"""Sorting hits: parsing ``sort`` and binding each key to an index's fields.

Keys: fields (options ``order``, ``missing``, ``unmapped_type``, ``format`` for dates), ``_score``, ``_doc`` and
``_shard_doc`` (with a point in time).
Sort values follow ES: ``date_nanos`` as epoch nanoseconds (or the ``format``ted string), booleans as 1 or 0, and
Long.MAX/MIN_VALUE or ±Infinity for missing values. Sorting on ``_id`` is refused as in ES 8; ``mode``,
``numeric_type``, nested sorting and the ``_script`` and ``_geo_distance`` sorts are refused by name (a script sort
is never answered as a sort on a field of that name). In a body a string is a field name, colon and all: only the
URL parameter ``sort=field:desc`` splits on the colon in ES.
"""

from __future__ import annotations

import re
from typing import Any

from . import dates
from .errors import illegal_argument, parsing, query_shard, search_failure, unsupported
from .indices import Index
from .mapping import LONG_MAX, LONG_MIN, Field


class SortSpec:
    """One sort key as requested: ``kind`` is "field", "score", "doc" or "shard_doc"."""

    def __init__(self, kind: str, path: str | None, desc: bool, missing: Any = "_last",
                 unmapped_type: str | None = None, fmt: str | None = None):
        self.kind = kind
        self.path = path
        self.desc = desc
        self.missing = missing
        self.unmapped_type = unmapped_type
        self.fmt = fmt


_SORT_OPTS = {"order", "missing", "unmapped_type", "format"}
_UNSUPPORTED_SORT_OPTS = {"mode", "numeric_type", "nested", "nested_path", "nested_filter"}
_UNSUPPORTED_SORTS = {"_script": "script-based sorting ([_script])", "_geo_distance": "[_geo_distance] sorting"}


def parse_sort(raw: Any) -> list[SortSpec]:
    """Parse a search's ``sort`` (a field name, ``"field:desc"``, ``{field: order}``, ``{field: {options}}``, or a
    list of these)."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    specs = []
    for item in items:
        if isinstance(item, str):
            specs.append(_sort_spec(item, {}))
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
    if name in _UNSUPPORTED_SORTS:
        raise unsupported(_UNSUPPORTED_SORTS[name])
    for key in opts:
        if key in _UNSUPPORTED_SORT_OPTS:
            raise unsupported(f"sort [{key}]")
        if key not in _SORT_OPTS:
            raise parsing(f"[field_sort] unknown field [{key}]")
    order = str(opts.get("order") or ("desc" if name == "_score" else "asc")).lower()
    if order not in ("asc", "desc"):
        raise illegal_argument(f"Unknown SortOrder [{order}]")
    if name == "_id":
        raise illegal_argument("Fielddata access on the _id field is disallowed, you can re-enable it by updating "
                               "the dynamic cluster setting: indices.id_field_data.enabled")
    if name in ("_score", "_doc", "_shard_doc"):
        return SortSpec(name[1:], None, order == "desc")
    return SortSpec("field", name, order == "desc", opts.get("missing", "_last"), opts.get("unmapped_type"),
                    opts.get("format"))


class BoundSort:
    """A sort spec bound to one index: key functions on docs and the sort values to emit."""

    def __init__(self, spec: SortSpec, index: Index, shard: int = 0):
        self.spec = spec
        self.shard = shard  # the index's position in the search, for ``_shard_doc`` (shard << 32 | doc, as in ES)
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
        self.field = field
        if spec.fmt is not None:
            if field.type != "date_nanos":
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
        if spec.kind == "shard_doc":
            return (1, (self.shard << 32) | doc.num)
        if self.unmapped:
            return (0 if spec.desc else 2, None)
        v = doc.values.get(spec.path)
        if v is None:
            return self.missing_key
        return (1, v)

    def emit(self, key):
        """Return the JSON sort value for a key (ES writes Long.MAX/MIN_VALUE etc. for missing values)."""
        flag, v = key
        spec = self.spec
        if spec.kind != "field":
            return v
        field = self.field
        if v is None:
            if field is None or field.type == "keyword":
                return None
            high = flag == 2
            if field.type == "double":
                return "Infinity" if high else "-Infinity"
            if field.type == "date_nanos" and not high:
                return 0
            return LONG_MAX if high else LONG_MIN
        if self.fmt is not None:
            return self.fmt.format(v)
        return field.sort_out(v)

    def after_key(self, raw, index: Index):
        """Turn a ``search_after`` value into a key comparable with key()."""
        spec = self.spec
        if spec.kind == "score":
            return (1, float(raw))
        if spec.kind in ("doc", "shard_doc"):
            return (1, int(raw))
        if self.unmapped or raw is None:
            return (0 if spec.desc else 2, None)
        field = self.field
        if raw in (LONG_MAX, "Infinity") and field.type != "keyword":
            return (2, None) if self.missing_key[0] == 2 else (1, raw)
        if raw in (LONG_MIN, "-Infinity") and field.type != "keyword":
            return (0, None) if self.missing_key[0] == 0 else (1, raw)
        if field.type == "date_nanos":
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
            return (1, ns)
        if field.type == "boolean":
            return (1, bool(raw) if not isinstance(raw, str) else raw == "true")
        return (1, field.query_value(raw, index.name))
