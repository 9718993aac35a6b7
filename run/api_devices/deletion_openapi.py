"""OpenAPI fragment of deletion tasks (api-devices), and the 202 reply of the deletes that start one."""

from __future__ import annotations

from infra.domain.deletions import DONE, FIELDS, PENDING
from infra.web.openapi import ID, TIMESTAMP, obj, operation, path_parameter, query_parameter, ref

TAG = "deletions"
TAGS = [{"name": TAG, "description": "Erasing the readings of deleted sensors, devices and users "
                                    "(README: Data lifecycle)."}]

MAYBE_TIMESTAMP = {**TIMESTAMP, "type": ["string", "null"]}
ACCEPTED = "Deleted; its readings are being erased: the reply is the deletion task, `Location` its URL."
LOCATION = {"Location": {"schema": {"type": "string"}, "description": "/api/deletions/{deletion_id}"}}

SCHEMAS = {
    "Deletion": obj({
        "id": ID, "kind": {"type": "string", "enum": list(FIELDS)}, "target_id": ID, "owner_id": ID,
        "state": {"type": "string", "enum": [PENDING, DONE]}, "requested_at": TIMESTAMP,
        "not_before": {**TIMESTAMP, "description": "Erasing starts then, once no cache can accept new readings."},
        "completed_at": MAYBE_TIMESTAMP, "attempts": {"type": "integer", "minimum": 0},
        "erased": {"type": "integer", "minimum": 0}, "last_error": {"type": ["string", "null"]}},
        ["id", "kind", "target_id", "owner_id", "state", "requested_at", "not_before", "completed_at", "attempts",
         "erased", "last_error"]),
    "DeletionList": obj({"items": {"type": "array", "items": ref("Deletion")}, "next_cursor": {"type": "null"}},
                        ["items", "next_cursor"]),
}

PATHS = {
    "/api/deletions": {"get": operation(
        "listDeletions", "Deletions still erasing readings, oldest first (admins: everyone's)", TAG,
        reply=ref("DeletionList"), errors=[400],
        parameters=[query_parameter("limit", "Most tasks listed.", {"type": "integer", "minimum": 1,
                                                                    "maximum": 1000, "default": 100})])},
    "/api/deletions/{deletion_id}": {
        "parameters": [path_parameter("deletion_id", "The deletion task's id.")],
        "get": operation("getDeletion", "One deletion task", TAG, reply=ref("Deletion"), errors=[404]),
    },
}


def accepting(operation_item: dict) -> dict:
    """Turn a delete operation's 204 into the 202 with the deletion task."""
    responses = operation_item["responses"]
    responses.pop("204", None)
    responses["202"] = {"description": ACCEPTED, "headers": LOCATION,
                        "content": {"application/json": {"schema": ref("Deletion")}}}
    return operation_item
