"""Listings over HTTP: the ``limit``/``cursor`` query parameters and the ``{"items", "next_cursor"}`` reply."""

from __future__ import annotations

import re

from flask import request

from infra.domain.errors import BadRequestError
from infra.domain.model import Page, PageRequest

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
# Cursors are the ids (or grant ids) this API returned; anything else could not name a Firestore document.
_CURSOR = re.compile(r"[a-z0-9]{1,64}(__[a-z0-9]{1,64})?")


def page_request() -> PageRequest:
    """The listing parameters of this request (400 ``invalid_query`` when malformed)."""
    raw_limit = request.args.get("limit")
    limit = DEFAULT_PAGE_SIZE
    if raw_limit is not None:
        if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_PAGE_SIZE:
            raise BadRequestError(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}", code="invalid_query",
                                  details={"parameter": "limit"})
        limit = int(raw_limit)
    cursor = request.args.get("cursor") or None
    if cursor is not None and _CURSOR.fullmatch(cursor) is None:
        raise BadRequestError("cursor is not one this API returned", code="invalid_query",
                              details={"parameter": "cursor"})
    return PageRequest(limit, cursor)


def page_reply(page: Page) -> dict:
    """The JSON reply of a listing: public forms of the items and the cursor of the next page (or null)."""
    return {"items": [item.public() for item in page.items], "next_cursor": page.next_cursor}
