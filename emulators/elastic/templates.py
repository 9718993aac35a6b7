"""Composable index templates: patterns, priority, and the settings, mappings and aliases a new index starts with.

The highest-priority template whose patterns match applies when an index is created; two templates of the same
priority with overlapping patterns are refused, as in ES. Component templates, data streams and template
lifecycles are refused by name. Aliases carry no options (no filter, routing or write index).
"""

from __future__ import annotations

from typing import Any

from .errors import EsError, illegal_argument, unsupported
from .indices import flatten_settings, glob_match, nest_settings
from .mapping import Mapping

_KEYS = {"index_patterns", "template", "priority", "version", "_meta"}
_UNSUPPORTED_KEYS = {"composed_of", "data_stream", "allow_auto_create", "deprecated",
                     "ignore_missing_component_templates"}


def validate_aliases(aliases: Any) -> dict[str, dict]:
    """Check the ``aliases`` of a template or a create-index body; return them as ``{name: {}}``."""
    if not aliases:
        return {}
    if not isinstance(aliases, dict):
        raise illegal_argument("aliases must be an object")
    for alias, props in aliases.items():
        if props and not isinstance(props, dict):
            raise illegal_argument(f"alias [{alias}] must be an object")
        if props:
            raise unsupported(f"alias options ([{', '.join(sorted(props))}] on alias [{alias}])")
    return {alias: {} for alias in aliases}


class Template:
    """A composable index template."""

    def __init__(self, name: str, body: Any):
        if not isinstance(body, dict):
            raise illegal_argument("index template body must be an object")
        for key, value in body.items():
            if key in _UNSUPPORTED_KEYS and value not in (None, [], False):
                raise unsupported(f"[{key}] in an index template")
            if key not in _KEYS and key not in _UNSUPPORTED_KEYS:
                raise EsError(400, "x_content_parse_exception", f"[1:2] [index_template] unknown field [{key}]")
        patterns = body.get("index_patterns")
        if isinstance(patterns, str):
            patterns = [p.strip() for p in patterns.split(",")]
        if not patterns:
            raise EsError(400, "action_request_validation_exception",
                          "Validation Failed: 1: index patterns are missing;")
        self.name = name
        self.patterns: list[str] = list(patterns)
        self.priority = int(body.get("priority") or 0)
        self.body = {key: value for key, value in body.items() if key in _KEYS}
        self.body["index_patterns"] = self.patterns
        template = body.get("template") or {}
        for key in template:
            if key == "lifecycle":
                raise unsupported("data stream lifecycle in a template")
            if key not in ("settings", "mappings", "aliases"):
                raise EsError(400, "x_content_parse_exception", f"[template] unknown field [{key}]")
        self.settings = flatten_settings(template.get("settings"))
        self.mappings = template.get("mappings") or {}
        Mapping().merge(self.mappings)  # validate now, as ES does at PUT time
        self.aliases = validate_aliases(template.get("aliases"))

    def matches(self, name: str) -> bool:
        return any(glob_match(p, name) for p in self.patterns)

    def overlaps(self, other: Template) -> bool:
        """Whether some index name could match both (ES refuses that between templates of one priority)."""
        return any(_patterns_overlap(p, q) for p in self.patterns for q in other.patterns)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"index_patterns": self.patterns}
        template: dict[str, Any] = {}
        if self.settings:
            template["settings"] = nest_settings(self.settings)
        if self.mappings:
            mapping = Mapping()
            mapping.merge(self.mappings)
            template["mappings"] = mapping.to_dict()
        if self.aliases:
            template["aliases"] = self.aliases
        if template:
            out["template"] = template
        out["composed_of"] = []
        for key in ("priority", "version", "_meta"):
            if key in self.body:
                out[key] = self.body[key]
        return out


def _patterns_overlap(a: str, b: str) -> bool:
    if glob_match(a, b.replace("*", "")) or glob_match(b, a.replace("*", "")):
        return True
    pa, pb = a.split("*")[0], b.split("*")[0]
    return "*" in a and "*" in b and (pa.startswith(pb) or pb.startswith(pa))
