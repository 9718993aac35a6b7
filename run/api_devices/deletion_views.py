"""api-devices routes of deletion tasks: what a deleted sensor, device or user left in the store, being erased."""

from __future__ import annotations

from flask import Blueprint, request

from infra.domain.errors import BadRequestError
from infra.usecases.deletions import visible_deletion, visible_open_deletions
from infra.web.auth import current_user
from infra.wiring import wiring_of

bp = Blueprint("deletions", __name__)

MAX_LISTED = 1000


@bp.get("/api/deletions")
def list_deletions():
    """Deletions still erasing readings, oldest first: an admin's are everyone's, a user's their own."""
    try:
        limit = int(request.args.get("limit", 100))
        if not 1 <= limit <= MAX_LISTED:
            raise ValueError
    except ValueError:
        raise BadRequestError(f"limit must be between 1 and {MAX_LISTED}", code="invalid_query") from None
    items = visible_open_deletions(wiring_of().deletions, current_user(), limit)
    return {"items": [deletion.to_reply() for deletion in items], "next_cursor": None}


@bp.get("/api/deletions/<deletion_id>")
def get_deletion(deletion_id: str):
    """One deletion task: `pending` until no reading of its target is left, then `done`."""
    return visible_deletion(wiring_of().deletions, current_user(), deletion_id).to_reply()

