"""api-data route of a device's export: ``GET /api/exports/devices/{device_id}`` (CSV or NDJSON, streamed).

It lives under ``/api/exports`` rather than ``/api/devices/{id}/export`` because the load balancer routes by path
prefix and ``/api/devices`` is api-devices', which holds no Elasticsearch key; api-data reads the store.
"""

from __future__ import annotations

from flask import Blueprint, Response, request, stream_with_context

from infra.domain.device_export import parse_export_query
from infra.usecases.exports import estimate_export, export_device
from infra.web.auth import current_user
from infra.wiring import wiring_of

bp = Blueprint("exports", __name__)


@bp.get("/api/exports/devices/<device_id>")
def export_readings(device_id: str):
    """Every reading of the device in ``[from, to)``, oldest first, streamed; with ``estimate=1``, its size."""
    query = parse_export_query(request.args)
    wiring = wiring_of()
    if query.estimate:
        return estimate_export(wiring.repository, wiring.telemetry, current_user(), device_id, query)
    export = export_device(wiring.repository, wiring.telemetry, current_user(), device_id, query)
    # No Content-Length: the reply is chunked as it is read from the store.
    return Response(stream_with_context(export.chunks), content_type=export.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{export.filename}"',
                             "Cache-Control": "no-store"})
