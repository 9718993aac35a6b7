"""Index mappings: the field types of the platform's index template, and how ES coerces values into them.

Field types: ``keyword``, ``long``, ``double``, ``boolean`` and ``date_nanos``, each declared by ``type`` alone; the
root takes ``dynamic`` and ``properties``. Values are coerced as ES does by default (numeric strings into numbers,
fractions of a ``long`` truncated, ``"true"``/``"false"`` into booleans, ISO strings or epoch milliseconds into
nanosecond dates).

Documents are flat: one scalar (or null) per field. A field outside the mapping is refused as ES refuses it under
``dynamic: strict``; under any other ``dynamic`` it is refused too, because the stand-in does not map fields
dynamically. Everything else a real mapping can hold (other types, parameters, objects, multi-fields, arrays of
values, dynamic templates) is refused with a 400 naming it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from . import dates
from .errors import EsError, MapperError, query_shard, unsupported

LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
TYPES = ("keyword", "long", "double", "boolean", "date_nanos")
POSTINGS_TYPES = frozenset(("keyword", "boolean"))  # indexed as value -> doc numbers; the others as sorted columns
_KNOWN_ES_TYPES = {
    "text", "integer", "short", "byte", "float", "half_float", "date", "object", "nested", "ip", "geo_point",
    "geo_shape", "flattened", "scaled_float", "unsigned_long", "wildcard", "constant_keyword", "match_only_text",
    "binary", "integer_range", "long_range", "date_range", "float_range", "double_range", "ip_range",
    "dense_vector", "sparse_vector", "search_as_you_type", "completion", "alias", "join", "percolator",
    "rank_feature", "rank_features", "histogram", "aggregate_metric_double", "version", "annotated_text",
    "token_count", "murmur3", "shape", "point", "semantic_text", "counted_keyword",
}
_ROOT_KEYS = ("dynamic", "properties")
_NUMERIC_STRING = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_INTEGER_STRING = re.compile(r"^\s*[+-]?\d+\s*$")
_METADATA = {"_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term", "_field_names",
             "_ignored", "_doc_count", "_tier", "_data_stream_timestamp", "_nested_path", "_feature"}
_DATE_NANOS = dates.get_format(dates.DEFAULT_DATE_NANOS)


def _preview(raw: Any) -> str:
    if isinstance(raw, dict):
        return "{" + ", ".join(f"{k}={_preview(v)}" for k, v in raw.items()) + "}"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


class Field:
    """One field of a mapping: its path and type."""

    __slots__ = ("path", "type")

    def __init__(self, path: str, spec: Any):
        if not isinstance(spec, dict):
            raise EsError(400, "mapper_parsing_exception",
                          f"Expected map for property [fields] on field [{path}] but got a class {type(spec)}")
        type_ = spec.get("type")
        if type_ not in TYPES:
            if type_ is None and "properties" in spec:
                raise unsupported(f"object fields ([{path}])")
            if type_ in _KNOWN_ES_TYPES:
                raise unsupported(f"field type [{type_}] (field [{path}])")
            if type_ is None:
                raise EsError(400, "mapper_parsing_exception", f"No type specified for field [{path}]")
            raise EsError(400, "mapper_parsing_exception", f"No handler for type [{type_}] declared on field [{path}]")
        extra = sorted(set(spec) - {"type"})
        if extra:
            raise unsupported(f"mapping parameter [{extra[0]}] on field [{path}]")
        self.path = path
        self.type = type_

    @property
    def fmt(self) -> dates.DateFormat | None:
        """The field's date format (``date_nanos`` fields only)."""
        return _DATE_NANOS if self.type == "date_nanos" else None

    def to_dict(self) -> dict:
        return {"type": self.type}

    # --- indexing ------------------------------------------------------------------------------------------

    def parse(self, raw: Any, doc_id: str):
        """Return the indexed form of one value; raise MapperError when it cannot fit."""
        t = type(raw)
        # Fast paths for the shapes telemetry documents carry; everything else takes the general path.
        if self.type == "keyword" and t is str:
            return raw
        if self.type == "double" and (t is float or t is int):
            value = float(raw)
            if math.isfinite(value):
                return value
        if self.type == "long" and t is int and LONG_MIN <= raw <= LONG_MAX:
            return raw
        if t is dict or t is list:
            raise self._error(raw, doc_id, {"type": "illegal_state_exception",
                                            "reason": "Can't get text on a START_OBJECT"})
        try:
            return self._coerce(raw)
        except ValueError as exc:
            raise self._error(raw, doc_id, {"type": "illegal_argument_exception", "reason": str(exc)}) from None

    def _coerce(self, raw: Any):
        if self.type == "keyword":
            return _preview(raw)
        if self.type == "long":
            return _parse_long(raw)
        if self.type == "double":
            return _parse_double(raw)
        if self.type == "boolean":
            return _parse_bool(raw)
        return _parse_date_nanos(raw)

    def _error(self, raw, doc_id, cause: dict) -> MapperError:
        return MapperError(f"failed to parse field [{self.path}] of type [{self.type}] in document with id "
                           f"'{doc_id}'. Preview of field's value: '{_preview(raw)}'", cause)

    # --- querying ------------------------------------------------------------------------------------------

    def query_value(self, raw: Any, index: str):
        """Coerce a value from a query (term, range bound, search_after, sort missing) to the indexed form.

        A fraction given for a ``long`` stays a float: the caller decides (a term on 1.5 matches nothing).
        """
        if self.type == "keyword":
            if isinstance(raw, (dict, list)):
                raise query_shard(f"[{self.path}] expects a single value", index)
            return raw if isinstance(raw, str) else _preview(raw)
        try:
            if self.type == "long" and (isinstance(raw, float) or (isinstance(raw, str) and _NUMERIC_STRING.match(raw)
                                                                   and not _INTEGER_STRING.match(raw))):
                return float(raw)
            return self._coerce(raw)
        except ValueError as exc:
            raise query_shard(f"failed to create query: {exc}", index) from None

    def sort_out(self, value):
        """Return a sort value the way ES writes it in ``hits.hits[].sort``."""
        if self.type == "boolean":
            return 1 if value else 0
        return value


def _parse_long(raw) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"Current token (VALUE_{str(raw).upper()}) not numeric, can not use numeric value accessors")
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueError(f"[long] supports only finite values, but got [{raw}]")
        value = int(raw)
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _NUMERIC_STRING.match(raw):
        text = raw.strip()
        value = int(text) if _INTEGER_STRING.match(text) else int(float(text))
    else:
        raise ValueError(f'For input string: "{raw}"')
    if not LONG_MIN <= value <= LONG_MAX:
        raise ValueError(f"Value [{raw}] is out of range for a long")
    return value


def _parse_double(raw) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"Current token (VALUE_{str(raw).upper()}) not numeric, can not use numeric value accessors")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str) and _NUMERIC_STRING.match(raw):
        value = float(raw)
    else:
        raise ValueError(f'For input string: "{raw}"')
    if not math.isfinite(value):
        raise ValueError(f"[double] supports only finite values, but got [{value}]")
    return value


def _parse_bool(raw) -> bool:
    if raw is True or raw is False:
        return raw
    if raw == "true":
        return True
    if raw == "false" or raw == "":
        return False
    raise ValueError(f"Failed to parse value [{_preview(raw)}] as only [true] or [false] are allowed.")


def _parse_date_nanos(raw) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"failed to parse date field [{_preview(raw)}] with format [{_DATE_NANOS.spec}]")
    try:
        ns = _DATE_NANOS.parse(raw)
    except dates.DateParseError:
        raise ValueError(f"failed to parse date field [{raw}] with format [{_DATE_NANOS.spec}]") from None
    if ns < 0:
        raise ValueError(f"date[{raw}] is before the epoch in 1970 and cannot be stored in nanosecond resolution")
    if ns > LONG_MAX:
        raise ValueError(f"date[{raw}] is after 2262-04-11T23:47:16.854775807 and cannot be stored in nanosecond "
                         f"resolution")
    return ns


class Mapping:
    """The mapping of one index: its fields by name and its root ``dynamic`` setting."""

    def __init__(self):
        self.fields: dict[str, Field] = {}
        self.dynamic = "true"

    def merge(self, body: Any) -> None:
        """Merge a mapping body (a template's, then the create request's): a field given again is replaced."""
        if not body:
            return
        if not isinstance(body, dict):
            raise EsError(400, "mapper_parsing_exception", "Failed to parse mapping: mapping must be an object")
        for key in body:
            if key not in _ROOT_KEYS:
                raise unsupported(f"mapping [{key}]")
        dynamic = str(body.get("dynamic", self.dynamic)).lower()
        if dynamic not in ("true", "false", "strict", "runtime"):
            raise EsError(400, "mapper_parsing_exception", "Could not convert [dynamic] to boolean or strict")
        props = body.get("properties") or {}
        if not isinstance(props, dict):
            raise EsError(400, "mapper_parsing_exception", "Failed to parse mapping: [properties] must be an object")
        fields = {}
        for name, spec in props.items():
            if not name or not name.strip():
                raise EsError(400, "mapper_parsing_exception", "field name cannot be an empty string")
            if "." in name:
                raise unsupported(f"object fields ([{name}])")
            fields[name] = Field(name, spec)
        self.dynamic = dynamic  # only once the whole body is valid
        self.fields.update(fields)

    def to_dict(self) -> dict:
        """Render the mapping the way ``GET /{index}/_mapping`` shows it."""
        root: dict[str, Any] = {}
        if self.dynamic != "true":
            root["dynamic"] = self.dynamic
        if self.fields:
            root["properties"] = {path: self.fields[path].to_dict() for path in sorted(self.fields)}
        return root

    def field(self, path: str) -> Field | None:
        return self.fields.get(path)

    def parse_doc(self, source: Any, doc_id: str) -> dict:
        """Return the indexed values of a document ({field: value}, nulls left out)."""
        if not isinstance(source, dict):
            raise MapperError("failed to parse, document is empty" if source is None else "failed to parse",
                              {"type": "not_x_content_exception",
                               "reason": "Compressor detection can only be called on some xcontent bytes or "
                                         "compressed xcontent bytes"})
        out: dict[str, Any] = {}
        fields = self.fields
        for key, raw in source.items():
            field = fields.get(key)
            if field is None:
                raise self._unmapped(key)
            if raw is None:
                continue
            if type(raw) is list:
                raise EsError(400, "illegal_argument_exception", f"arrays of values (field [{key}]) are not supported "
                                                                 f"by the Elasticsearch stand-in")
            out[key] = field.parse(raw, doc_id)
        return out

    def _unmapped(self, key: str) -> Exception:
        if key in _METADATA:
            return MapperError(f"Field [{key}] is a metadata field and cannot be added inside a document. Use the "
                               f"index API request parameters.")
        if self.dynamic == "strict":
            name = key.split(".", 1)[0]
            return MapperError(f"[_doc] mapping set to strict, dynamic introduction of [{name}] within [_doc] is not "
                               f"allowed", type_="strict_dynamic_mapping_exception")
        return EsError(400, "illegal_argument_exception",
                       f"dynamic mapping (the unmapped field [{key}]) is not supported by the Elasticsearch stand-in; "
                       f"map every field, or set dynamic to strict")


__all__ = ["Field", "Mapping", "LONG_MAX", "LONG_MIN", "POSTINGS_TYPES", "TYPES"]
