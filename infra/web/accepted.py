"""The reply of a delete whose readings are still being erased (api-devices, api-users)."""

from __future__ import annotations

from infra.domain.deletions import Deletion


def accepted(deletion: Deletion):
    """202 with the deletion task, and where to follow it (``GET /api/deletions/{id}``)."""
    return deletion.to_reply(), 202, {"Location": f"/api/deletions/{deletion.id}"}
