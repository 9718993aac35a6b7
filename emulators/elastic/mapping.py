"""Index mappings: field types, value coercion as ES does it, and dynamic mapping of new fields.

Supported field types: ``keyword``, ``text`` (lowercased tokens split on non-word characters), ``long``,
``integer``, ``short``, ``byte``, ``double``, ``float`` and ``half_float`` (stored with their precision),
``boolean``, ``date`` (milliseconds) and ``date_nanos`` (nanoseconds), ``object`` (also implied by
``properties``) and multi-fields (``fields``). Parameters: ``format`` (dates), ``ignore_above`` (keyword),
``ignore_malformed``, ``coerce``, ``null_value``, ``doc_values: true``, ``index: true``; root ``dynamic``
(true/false/strict), ``date_detection``, ``numeric_detection``, ``_meta``.

Dynamic mapping follows ES (numbers → ``long``/``float``, booleans, objects, ISO date strings → ``date``)
with one deliberate difference: a new string field becomes ``keyword`` only, not ``text`` plus a
``.keyword`` sub-field. Map string fields explicitly (as the platform's index template does) when a test
must behave the same on a real cluster.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any

from . import dates
from .errors import EsError, MapperError, STANDIN, unsupported

LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
_INT_RANGES = {"long": (LONG_MIN, LONG_MAX), "integer": (-(2**31), 2**31 - 1), "short": (-(2**15), 2**15 - 1),
               "byte": (-128, 127)}
_FLOAT_TYPES = {"double", "float", "half_float"}
LEAF_TYPES = {"keyword", "text", "boolean", "date", "date_nanos"} | set(_INT_RANGES) | _FLOAT_TYPES
_KNOWN_ES_TYPES = {"ip", "geo_point", "geo_shape", "nested", "flattened", "scaled_float", "unsigned_long",
                   "wildcard", "constant_keyword", "match_only_text", "binary", "integer_range", "long_range",
                   "date_range", "float_range", "double_range", "ip_range", "dense_vector", "sparse_vector",
                   "search_as_you_type", "completion", "alias", "join", "percolator", "rank_feature",
                   "rank_features", "histogram", "aggregate_metric_double", "version", "annotated_text",
                   "token_count", "murmur3", "shape", "point", "semantic_text", "counted_keyword"}
_COMMON_PARAMS = {"type", "doc_values", "index", "store", "fields", "meta", "null_value", "copy_to"}
_PARAMS = {
    "keyword": _COMMON_PARAMS | {"ignore_above", "eager_global_ordinals", "similarity", "norms", "index_options"},
    "text": _COMMON_PARAMS | {"analyzer", "search_analyzer", "norms", "index_options", "similarity", "fielddata"},
    "boolean": _COMMON_PARAMS,
    "date": _COMMON_PARAMS | {"format", "ignore_malformed", "locale"},
    "number": _COMMON_PARAMS | {"coerce", "ignore_malformed"},
}
_NUMERIC_STRING = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_TOKEN_SPLIT = re.compile(r"[^\w]+", re.UNICODE)
_METADATA = {"_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term", "_field_names",
             "_ignored", "_doc_count", "_tier", "_data_stream_timestamp", "_nested_path", "_feature"}
_DATE_DETECT = re.compile(r"^\d{4}-\d{2}-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?)?"
                          r"(?:Z|[+-]\d{2}(?::?\d{2})?)?$")


def tokenize(text: str) -> tuple[str, ...]:
    """Split text the way the stand-in's ``text`` fields index it: lowercase word tokens."""
    return tuple(t for t in _TOKEN_SPLIT.split(text.lower()) if t)


def _preview(raw: Any) -> str:
    if isinstance(raw, dict):
        return "{" + ", ".join(f"{k}={_preview(v)}" for k, v in raw.items()) + "}"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


class Field:
    """One leaf field (or multi-field) with its type and parameters."""

    __slots__ = ("path", "type", "params", "kind", "fmt", "ignore_above", "ignore_malformed", "null_value",
                 "coerce", "subfields", "is_sub", "int_range", "float_kind")

    def __init__(self, path: str, spec: dict, is_sub: bool = False):
        self.path = path
        self.type = spec["type"]
        self.is_sub = is_sub
        t = self.type
        allowed = _PARAMS["number" if (t in _INT_RANGES or t in _FLOAT_TYPES) else
                          ("date" if t in ("date", "date_nanos") else t)]
        for key, value in spec.items():
            if key not in allowed:
                raise EsError(400, "mapper_parsing_exception",
                              f"unknown parameter [{key}] on mapper [{path}] of type [{t}]")
        for key, ok in (("doc_values", True), ("index", True)):
            if key in spec and spec[key] is not ok and str(spec[key]).lower() != "true":
                raise unsupported(f"mapping parameter [{key}: {spec[key]}] on field [{path}]")
        for key in ("copy_to", "fielddata"):
            if spec.get(key):
                raise unsupported(f"mapping parameter [{key}] on field [{path}]")
        if t == "text" and spec.get("analyzer", "standard") not in ("standard", "simple", "default"):
            raise unsupported(f"analyzer [{spec['analyzer']}] on field [{path}]")
        self.params = dict(spec)
        self.kind = ("long" if t in _INT_RANGES else "double" if t in _FLOAT_TYPES else t)
        self.int_range = _INT_RANGES.get(t)
        self.float_kind = t if t in _FLOAT_TYPES else None
        self.ignore_above = spec.get("ignore_above")
        self.ignore_malformed = bool(spec.get("ignore_malformed", False))
        self.coerce = spec.get("coerce", True) not in (False, "false")
        self.fmt = None
        if t in ("date", "date_nanos"):
            self.fmt = dates.get_format(spec.get("format") or
                                        (dates.DEFAULT_DATE if t == "date" else dates.DEFAULT_DATE_NANOS))
        self.subfields: list[Field] = []
        if "fields" in spec:
            if is_sub:
                raise EsError(400, "mapper_parsing_exception", f"multi-field [{path}] cannot have fields")
            for name, sub in (spec["fields"] or {}).items():
                sub_type = sub.get("type") if isinstance(sub, dict) else None
                if sub_type not in LEAF_TYPES:
                    raise _bad_type(f"{path}.{name}", sub_type)
                self.subfields.append(Field(f"{path}.{name}", sub, is_sub=True))
        self.null_value = None
        if spec.get("null_value") is not None:
            try:
                self.null_value = spec["null_value"]
                self.parse(self.null_value, "null_value")
            except MapperError:
                raise EsError(400, "mapper_parsing_exception",
                              f"Failed to parse mapping: Error parsing [null_value] on field [{path}]") from None

    @property
    def time_unit_ns(self) -> int:
        return 1 if self.type == "date_nanos" else dates.NS_PER_MS

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.params.items() if k != "fields"}
        if self.subfields:
            out["fields"] = {s.path.rsplit(".", 1)[1]: s.to_dict() for s in self.subfields}
        return out

    # --- indexing ------------------------------------------------------------------------------------------

    def parse(self, raw: Any, doc_id: str | None):
        """Return the indexed form of one value, or None when ignored; raise MapperError when it cannot fit."""
        kind = self.kind
        t = type(raw)
        # Fast paths for the shapes telemetry documents carry; everything else takes the general path.
        if t is str and kind == "keyword" and self.ignore_above is None:
            return raw
        if (t is float or t is int) and kind == "double" and self.float_kind == "double":
            return float(raw)
        if t is int and kind == "long" and self.int_range[0] <= raw <= self.int_range[1]:
            return raw
        if isinstance(raw, dict) or isinstance(raw, list):
            raise self._error(raw, doc_id, {"type": "illegal_state_exception",
                                            "reason": "Can't get text on a START_OBJECT"})
        try:
            if kind == "keyword":
                text = raw if isinstance(raw, str) else _preview(raw)
                if self.ignore_above is not None and len(text) > int(self.ignore_above):
                    return None
                return text
            if kind == "text":
                return tokenize(raw if isinstance(raw, str) else _preview(raw))
            if kind == "long":
                return self._parse_int(raw)
            if kind == "double":
                return self._parse_float(raw)
            if kind == "boolean":
                return _parse_bool(raw)
            return self._parse_date(raw)
        except ValueError as exc:
            if self.ignore_malformed:
                return None
            raise self._error(raw, doc_id, {"type": "illegal_argument_exception", "reason": str(exc)}) from None

    def _error(self, raw, doc_id, cause: dict) -> MapperError:
        return MapperError(f"failed to parse field [{self.path}] of type [{self.type}] in document with id "
                           f"'{doc_id}'. Preview of field's value: '{_preview(raw)}'", cause)

    def _parse_int(self, raw) -> int:
        if isinstance(raw, bool):
            raise ValueError(f"Current token (VALUE_{str(raw).upper()}) not numeric, can not use numeric value "
                             f"accessors")
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, float):
            if not math.isfinite(raw):
                raise ValueError(f"[{self.type}] supports only finite values, but got [{raw}]")
            if not self.coerce and raw != int(raw):
                raise ValueError(f"Value [{raw}] has a decimal part")
            value = int(raw)
        elif isinstance(raw, str):
            if not _NUMERIC_STRING.match(raw):
                raise ValueError(f'For input string: "{raw}"')
            if not self.coerce:
                raise ValueError(f"Cannot parse string [{raw}] as [{self.type}] with coerce disabled")
            text = raw.strip()
            try:
                value = int(text)
            except ValueError:
                value = int(float(text))
        else:
            raise ValueError(f"Cannot parse value [{raw}]")
        lo, hi = self.int_range
        if value < lo or value > hi:
            raise ValueError(f"Value [{raw}] is out of range for {'an' if self.type == 'integer' else 'a'} "
                             f"{self.type}")
        return value

    def _parse_float(self, raw) -> float:
        if isinstance(raw, bool):
            raise ValueError(f"Current token (VALUE_{str(raw).upper()}) not numeric, can not use numeric value "
                             f"accessors")
        if isinstance(raw, (int, float)):
            value = float(raw)
        elif isinstance(raw, str):
            if not _NUMERIC_STRING.match(raw):
                raise ValueError(f'For input string: "{raw}"')
            if not self.coerce:
                raise ValueError(f"Cannot parse string [{raw}] as [{self.type}] with coerce disabled")
            value = float(raw)
        else:
            raise ValueError(f"Cannot parse value [{raw}]")
        value = _round_float(value, self.float_kind)
        if not math.isfinite(value):
            raise ValueError(f"[{self.type}] supports only finite values, but got [{value}]")
        return value

    def _parse_date(self, raw) -> int:
        if isinstance(raw, bool):
            raise ValueError(f"failed to parse date field [{_preview(raw)}] with format [{self.fmt.spec}]")
        try:
            ns = self.fmt.parse(raw)
        except dates.DateParseError:
            raise ValueError(f"failed to parse date field [{raw}] with format [{self.fmt.spec}]") from None
        if self.type == "date_nanos":
            if ns < 0:
                raise ValueError(f"date[{raw}] is before the epoch in 1970 and cannot be stored in nanosecond "
                                 f"resolution")
            if ns > LONG_MAX:
                raise ValueError(f"date[{raw}] is after 2262-04-11T23:47:16.854775807 and cannot be stored in "
                                 f"nanosecond resolution")
            return ns
        return ns // dates.NS_PER_MS

    # --- querying ------------------------------------------------------------------------------------------

    def query_value(self, raw: Any, index: str):
        """Coerce a value from a query (term, range bound, search_after) to the indexed form."""
        if self.kind == "keyword":
            if isinstance(raw, (dict, list)):
                raise _query_error(f"[{self.path}] expects a single value", index)
            return raw if isinstance(raw, str) else _preview(raw)
        if self.kind == "text":
            return str(raw).lower() if not isinstance(raw, bool) else _preview(raw)
        try:
            if self.kind == "long":
                if isinstance(raw, float) or (isinstance(raw, str) and _NUMERIC_STRING.match(raw)
                                              and not re.fullmatch(r"\s*[+-]?\d+\s*", raw)):
                    return float(raw)
                return self._parse_int(raw)
            if self.kind == "double":
                return self._parse_float(raw)
            if self.kind == "boolean":
                return _parse_bool(raw)
            return self._parse_date(raw)
        except ValueError as exc:
            raise _query_error(f"failed to create query: {exc}", index) from None

    def sort_out(self, value):
        """Return a sort value the way ES writes it in ``hits.hits[].sort``."""
        if self.kind == "boolean":
            return 1 if value else 0
        return value


def _query_error(reason: str, index: str) -> EsError:
    from .errors import query_shard
    return query_shard(reason, index)


def _round_float(value: float, kind: str | None) -> float:
    if kind == "float":
        try:
            return struct.unpack("f", struct.pack("f", value))[0]
        except OverflowError:
            return math.inf
    if kind == "half_float":
        try:
            return struct.unpack("e", struct.pack("e", value))[0]
        except OverflowError:
            return math.inf
    return value


def _parse_bool(raw) -> bool:
    if raw is True or raw is False:
        return raw
    if raw == "true":
        return True
    if raw == "false" or raw == "":
        return False
    raise ValueError(f"Failed to parse value [{_preview(raw)}] as only [true] or [false] are allowed.")


def _bad_type(path: str, type_: Any) -> EsError:
    if type_ in _KNOWN_ES_TYPES:
        return unsupported(f"field type [{type_}] (field [{path}])")
    if type_ is None:
        return EsError(400, "mapper_parsing_exception", f"No type specified for field [{path}]")
    return EsError(400, "mapper_parsing_exception", f"No handler for type [{type_}] declared on field [{path}]")


class ObjectDef:
    """An object field: its dynamic setting (None = inherit) and whether its contents are indexed."""

    __slots__ = ("path", "dynamic", "enabled")

    def __init__(self, path: str, dynamic: str | None = None, enabled: bool = True):
        self.path = path
        self.dynamic = dynamic
        self.enabled = enabled


def _dynamic_value(value) -> str | None:
    if value is None:
        return None
    text = str(value).lower()
    if text not in ("true", "false", "strict"):
        if text == "runtime":
            raise unsupported("dynamic [runtime]")
        raise EsError(400, "mapper_parsing_exception", "Could not convert [dynamic] to boolean or strict")
    return text


_ROOT_KEYS = {"properties", "dynamic", "date_detection", "numeric_detection", "_meta", "dynamic_templates",
              "_source", "_routing", "runtime", "dynamic_date_formats", "enabled", "_doc"}


class Mapping:
    """The mapping of one index: a flat table of field paths, plus object paths and root settings."""

    def __init__(self):
        self.fields: dict[str, Field] = {}
        self.objects: dict[str, ObjectDef] = {}
        self.dynamic = "true"
        self.date_detection = True
        self.numeric_detection = False
        self.meta: dict | None = None
        self.version = 0  # bumped on every change, so caches keyed on it stay valid

    # --- building from JSON ---------------------------------------------------------------------------------

    def merge(self, body: dict | None, replace: bool = False) -> None:
        """Merge a mapping body (from PUT index, a template or PUT _mapping); refuse type changes.

        With ``replace`` (composing a new index's mapping over its template's) a field's definition is replaced.
        """
        if not body:
            return
        if not isinstance(body, dict):
            raise EsError(400, "mapper_parsing_exception", "Failed to parse mapping: mapping must be an object")
        if "_doc" in body and isinstance(body["_doc"], dict) and len(body) == 1:
            raise EsError(400, "illegal_argument_exception",
                          "The mapping definition cannot be nested under a type [_doc] unless include_type_name "
                          "is set to true.")
        for key, value in body.items():
            if key not in _ROOT_KEYS:
                raise EsError(400, "mapper_parsing_exception",
                              f"Root mapping definition has unsupported parameters:  [{key} : {value}]")
        if body.get("dynamic_templates"):
            raise unsupported("mapping [dynamic_templates]")
        if body.get("runtime"):
            raise unsupported("mapping [runtime] fields")
        if body.get("_routing", {}).get("required"):
            raise unsupported("mapping [_routing.required]")
        source = body.get("_source")
        if source and (source.get("enabled") in (False, "false") or source.get("includes") or source.get("excludes")
                       or source.get("mode") not in (None, "stored")):
            raise unsupported("mapping [_source] options")
        if "dynamic_date_formats" in body:
            raise unsupported("mapping [dynamic_date_formats]")
        if body.get("enabled") in (False, "false"):
            raise unsupported("mapping [enabled: false] at the root")
        if "dynamic" in body:
            self.dynamic = _dynamic_value(body["dynamic"])
        if "date_detection" in body:
            self.date_detection = str(body["date_detection"]).lower() == "true"
        if "numeric_detection" in body:
            self.numeric_detection = str(body["numeric_detection"]).lower() == "true"
        if "_meta" in body:
            self.meta = body["_meta"]
        staged_fields: dict[str, Field] = {}
        staged_objects: dict[str, ObjectDef] = {}
        self._merge_properties("", body.get("properties") or {}, staged_fields, staged_objects, replace)
        self.fields.update(staged_fields)
        for path, obj in staged_objects.items():
            self.objects[path] = obj
        self.version += 1

    def _merge_properties(self, prefix: str, props: dict, fields: dict, objects: dict, replace: bool) -> None:
        if not isinstance(props, dict):
            raise EsError(400, "mapper_parsing_exception", "Failed to parse mapping: [properties] must be an object")
        for name, spec in props.items():
            if not name or not name.strip():
                raise EsError(400, "mapper_parsing_exception", "field name cannot be an empty string")
            if "." in name:
                head, rest = name.split(".", 1)
                spec = {"properties": {rest: spec}}
                name = head
            path = prefix + name
            if not isinstance(spec, dict):
                raise EsError(400, "mapper_parsing_exception",
                              f"Expected map for property [fields] on field [{name}] but got a class {type(spec)}")
            type_ = spec.get("type")
            if type_ is None and "properties" in spec or type_ == "object":
                existing = self.fields.get(path) or fields.get(path)
                if existing is not None:
                    raise EsError(400, "illegal_argument_exception",
                                  f"can't merge a non object mapping [{path}] with an object mapping")
                extra = set(spec) - {"type", "properties", "dynamic", "enabled"}
                if extra:
                    raise EsError(400, "mapper_parsing_exception",
                                  f"unknown parameter [{sorted(extra)[0]}] on mapper [{path}] of type [object]")
                obj = objects.get(path) or self.objects.get(path) or ObjectDef(path)
                obj = ObjectDef(path, _dynamic_value(spec["dynamic"]) if "dynamic" in spec else obj.dynamic,
                                spec.get("enabled", obj.enabled) not in (False, "false"))
                objects[path] = obj
                self._merge_properties(path + ".", spec.get("properties") or {}, fields, objects, replace)
                continue
            if type_ not in LEAF_TYPES:
                raise _bad_type(path, type_)
            if path in self.objects or path in objects:
                raise EsError(400, "illegal_argument_exception",
                              f"can't merge a non object mapping [{path}] with an object mapping")
            field = Field(path, spec)
            old = self.fields.get(path)
            if old is not None and old.type != field.type and not replace:
                raise EsError(400, "illegal_argument_exception",
                              f"mapper [{path}] cannot be changed from type [{old.type}] to [{field.type}]")
            if old is not None and replace:
                for sub in old.subfields:
                    self.fields.pop(sub.path, None)
            fields[path] = field
            for sub in field.subfields:
                fields[sub.path] = sub

    def to_dict(self) -> dict:
        """Render the mapping the way ``GET /{index}/_mapping`` shows it."""
        root: dict[str, Any] = {}
        if self.dynamic != "true":
            root["dynamic"] = self.dynamic
        if not self.date_detection:
            root["date_detection"] = False
        if self.numeric_detection:
            root["numeric_detection"] = True
        if self.meta is not None:
            root["_meta"] = self.meta
        tree: dict[str, Any] = {}
        for path in sorted(self.objects):
            node = self._node(tree, path)
            obj = self.objects[path]
            if obj.dynamic is not None:
                node["dynamic"] = obj.dynamic
            if not obj.enabled:
                node["enabled"] = False
        for path, field in sorted(self.fields.items()):
            if field.is_sub:
                continue
            parent, _, name = path.rpartition(".")
            props = self._node(tree, parent).setdefault("properties", {}) if parent else tree
            props[name] = field.to_dict()
        for path in self.objects:
            node = self._node(tree, path)
            if not node.get("properties"):
                node.pop("properties", None)
                node["type"] = "object"
        if tree:
            root["properties"] = tree
        return root

    def _node(self, tree: dict, path: str) -> dict:
        props = tree
        node: dict = {}
        parts = path.split(".")
        for i, part in enumerate(parts):
            node = props.setdefault(part, {})
            if i < len(parts) - 1:
                props = node.setdefault("properties", {})
        return node

    # --- documents ----------------------------------------------------------------------------------------

    def parse_doc(self, source: dict, doc_id: str | None) -> dict:
        """Return the indexed values of a document, adding dynamic fields only if the whole doc parses."""
        if not isinstance(source, dict):
            raise MapperError("failed to parse, document is empty" if source is None else
                              "failed to parse", {"type": "not_x_content_exception",
                                                  "reason": "Compressor detection can only be called on some "
                                                            "xcontent bytes or compressed xcontent bytes"})
        out: dict[str, Any] = {}
        new_fields: dict[str, Field] = {}
        new_objects: dict[str, ObjectDef] = {}
        fields = self.fields
        for key, raw in source.items():
            field = fields.get(key)
            if field is not None and raw is not None and not field.subfields:
                t = type(raw)
                if t is not list and t is not dict:
                    value = field.parse(raw, doc_id)
                    if value is not None:
                        if key in out:
                            _add(out, key, value, field.kind == "text")
                        else:
                            out[key] = value
                    continue
            if key in _METADATA:
                raise MapperError(f"Field [{key}] is a metadata field and cannot be added inside a document. Use "
                                  f"the index API request parameters.", type_="document_parsing_exception")
            self._value(key, raw, out, new_fields, new_objects, doc_id)
        if new_fields or new_objects:
            self.fields.update(new_fields)
            self.objects.update(new_objects)
            self.version += 1
        return out

    def _value(self, path, raw, out, new_fields, new_objects, doc_id) -> None:
        field = self.fields.get(path)
        if field is not None and raw is not None and not field.subfields and type(raw) is not list \
                and type(raw) is not dict:
            value = field.parse(raw, doc_id)
            if value is not None:
                _add(out, path, value, field.kind == "text")
            return
        if not path or path.endswith(".") or ".." in path or not path.split(".")[-1].strip():
            raise MapperError("field name cannot be an empty string", type_="document_parsing_exception")
        if raw is None:
            field = self.fields.get(path) or new_fields.get(path)
            if field is None or field.null_value is None:
                return
            raw = field.null_value
        if isinstance(raw, list):
            for item in raw:
                if isinstance(item, list):
                    self._value(path, item, out, new_fields, new_objects, doc_id)
                else:
                    self._value(path, item, out, new_fields, new_objects, doc_id)
            return
        field = self.fields.get(path) or new_fields.get(path)
        if isinstance(raw, dict):
            if field is not None:
                raise field._error(raw, doc_id, {"type": "illegal_state_exception",
                                                 "reason": "Can't get text on a START_OBJECT"})
            obj = self.objects.get(path) or new_objects.get(path)
            if obj is None:
                if not (self._ensure_parents(path, new_fields, new_objects) and self._may_add(path, new_objects)):
                    return
                obj = new_objects[path] = ObjectDef(path)
            if not obj.enabled:
                return
            for key, value in raw.items():
                self._value(f"{path}.{key}", value, out, new_fields, new_objects, doc_id)
            return
        if field is None:
            if path in self.objects or path in new_objects:
                raise MapperError(f"object mapping for [{path}] tried to parse field [{path.rsplit('.', 1)[-1]}] "
                                  f"as object, but found a concrete value", type_="document_parsing_exception")
            if not (self._ensure_parents(path, new_fields, new_objects) and self._may_add(path, new_objects)):
                return
            field = new_fields[path] = Field(path, self._dynamic_spec(raw))
        value = field.parse(raw, doc_id)
        if value is not None:
            _add(out, path, value, field.kind == "text")
        for sub in field.subfields:
            sub_value = sub.parse(raw, doc_id)
            if sub_value is not None:
                _add(out, sub.path, sub_value, sub.kind == "text")

    def _ensure_parents(self, path: str, new_fields, new_objects) -> bool:
        """Create the object parents of a dotted path; return False if a parent is not indexed."""
        parts = path.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in self.fields or parent in new_fields:
                existing = self.fields.get(parent) or new_fields[parent]
                raise MapperError(f"Could not dynamically add mapping for field [{path}]. Existing mapping for "
                                  f"[{parent}] must be of type object but found [{existing.type}].",
                                  type_="document_parsing_exception")
            obj = self.objects.get(parent) or new_objects.get(parent)
            if obj is None:
                if not self._may_add(parent, new_objects):
                    return False
                new_objects[parent] = ObjectDef(parent)
            elif not obj.enabled:
                return False
        return True

    def _may_add(self, path: str, new_objects) -> bool:
        """Whether dynamic mapping lets ``path`` be added: raise under ``strict``, False under ``false``."""
        mode = self._dynamic_for(path, new_objects)
        if mode == "strict":
            raise self._strict(path)
        return mode != "false"

    def _dynamic_for(self, path: str, new_objects) -> str:
        parent = path.rpartition(".")[0]
        while parent:
            obj = self.objects.get(parent) or new_objects.get(parent)
            if obj is not None and obj.dynamic is not None:
                return obj.dynamic
            parent = parent.rpartition(".")[0]
        return self.dynamic

    def _strict(self, path: str) -> MapperError:
        parent, _, name = path.rpartition(".")
        return MapperError(f"[{parent or '_doc'}] mapping set to strict, dynamic introduction of [{name}] within "
                           f"[{parent or '_doc'}] is not allowed", type_="strict_dynamic_mapping_exception")

    def _dynamic_spec(self, raw) -> dict:
        if isinstance(raw, bool):
            return {"type": "boolean"}
        if isinstance(raw, int):
            return {"type": "long"}
        if isinstance(raw, float):
            return {"type": "float"}
        if isinstance(raw, str):
            if self.date_detection and _DATE_DETECT.match(raw):
                return {"type": "date"}
            if self.numeric_detection and _NUMERIC_STRING.match(raw):
                return {"type": "long"} if re.fullmatch(r"\s*[+-]?\d+\s*", raw) else {"type": "float"}
            return {"type": "keyword"}
        return {"type": "keyword"}

    # --- lookups --------------------------------------------------------------------------------------------

    def field(self, path: str) -> Field | None:
        return self.fields.get(path)

    def is_object(self, path: str) -> bool:
        return path in self.objects

    def fields_under(self, path: str) -> list[str]:
        """Leaf paths below an object path (for ``exists`` on an object)."""
        prefix = path + "."
        return [p for p in self.fields if p.startswith(prefix)]


def _add(out: dict, path: str, value, is_text: bool) -> None:
    if is_text:
        out[path] = out.get(path, ()) + value
        return
    current = out.get(path, _MISSING)
    if current is _MISSING:
        out[path] = value
    elif type(current) is tuple:
        out[path] = current + (value,)
    else:
        out[path] = (current, value)


_MISSING = object()

__all__ = ["Field", "Mapping", "ObjectDef", "tokenize", "LONG_MAX", "LONG_MIN", "STANDIN"]
