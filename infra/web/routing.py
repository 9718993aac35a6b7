"""URL converters that keep a variable route from swallowing the static routes beside it.

Werkzeug tries every rule whose path matches: ``DELETE /api/users/self`` (no such operation) would reach
``DELETE /api/users/<user_id>`` with the id ``self``, and ``OPTIONS`` would advertise ``DELETE`` for it. Written as
``/api/users/<other("self", "signin"):user_id>``, the variable route leaves those words alone, so a method the
static route lacks is a 405 with the static route's ``Allow``, as the OpenAPI document says.
"""

from __future__ import annotations

import re

from werkzeug.routing import BaseConverter, Map


def _except(words: tuple[str, ...]) -> str:
    return rf"(?!(?:{'|'.join(re.escape(word) for word in words)})$)"


class OtherConverter(BaseConverter):
    """``<other("word", ...):name>``: one path segment that is none of the words."""

    part_isolating = True

    def __init__(self, url_map: Map, *words: str):
        super().__init__(url_map)
        self.regex = _except(words) + r"[^/]+"


class OtherPathConverter(BaseConverter):
    """``<other_path("word", ...):name>``: one or more path segments that are not just one of the words."""

    part_isolating = False

    def __init__(self, url_map: Map, *words: str):
        super().__init__(url_map)
        self.regex = _except(words) + r"[^/].*?"


CONVERTERS = {"other": OtherConverter, "other_path": OtherPathConverter}
