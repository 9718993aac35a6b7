"""Routes of api-data: the time-range data API and the read-only Elasticsearch-compatible consumer proxy."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from infra.domain.csv_export import readings_csv
from infra.web.auth import current_consumer, current_user, reader_audience, sensor_for_reading, sensors_for_reading
from infra.domain.errors import AppError, BadRequestError, ForbiddenError, NotFoundError
from infra.usecases.forecasts import forecast_sensor, parse_forecast_query
from infra.usecases import rules
from infra.usecases.readings import parse_data_query
from infra.web.paging import page_request
from infra.domain.errors import QueryError
from infra.domain.queries import MAX_SENSORS
from infra.domain.claims import CONSUMER
from infra.web.app import json_body
from infra.wiring import wiring_of

logger = logging.getLogger(__name__)
bp = Blueprint("api_data", __name__)
proxy = Blueprint("consume", __name__, url_prefix="/api/consumers/consume")

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
LATEST_SIZE = 10  # readings returned by the original's GET /api/consumers/consume/{sensor_id}


@bp.get("/api/sensors/<sensor_id>/data")
def sensor_data(sensor_id: str):
    """Readings of one sensor in a time range: pages newest first (or ``order=asc``), or downsampled."""
    query = parse_data_query(request.args)
    sensor = sensor_for_reading(sensor_id)
    telemetry = wiring_of().telemetry
    try:
        if query.interval is not None:
            points = telemetry.buckets(sensor.id, sensor.type, query.start_ns, query.end_ns, query.interval,
                                       query.agg, query.order)
            next_cursor = None
        else:
            points, next_cursor = telemetry.points(sensor.id, sensor.type, query.start_ns, query.end_ns,
                                                   query.limit, query.cursor, query.order)
    except QueryError as exc:
        raise BadRequestError(str(exc), code="invalid_query") from None
    if query.format == "csv":
        return _csv(points, next_cursor, text=sensor.type == "keyword" and query.interval is None)
    reply = {"sensor_id": sensor.id, "type": sensor.type, "points": points, "next_cursor": next_cursor}
    if query.interval is not None:
        reply.update(interval=query.interval, agg=query.agg)
    return reply


@bp.get("/api/sensors/<sensor_id>/forecast")
def sensor_forecast(sensor_id: str):
    """Predicted points of a numeric sensor for a horizon, with the method and its fit error."""
    query = parse_forecast_query(request.args)
    sensor = sensor_for_reading(sensor_id)
    return forecast_sensor(wiring_of().telemetry, sensor, query)


@bp.get("/api/sensors/<sensor_id>/alerts")
def sensor_alerts(sensor_id: str):
    """The alerts of a sensor, newest first: its owner, an admin, or a consumer granted the sensor."""
    sensor = sensor_for_reading(sensor_id)
    page = rules.sensor_alerts(wiring_of().rules, sensor.id, page_request())
    return {"items": page.items, "next_cursor": page.next_cursor}


@proxy.route("", methods=["GET"])
def info():
    """Minimal cluster info, so the official client's ``info()`` and ``ping()`` work against the proxy."""
    if reader_audience() == CONSUMER:
        current_consumer()
    else:
        current_user()
    return {"name": "iot-platform", "tagline": "You Know, for Search",
            "version": {"number": "8.15.0", "build_flavor": "default"}}


@proxy.route("/<index>", methods=_ALL_METHODS)
def latest_readings(index: str):
    """The original platform's call: the newest readings of one sensor as an Elasticsearch search reply."""
    if request.method not in ("GET", "HEAD"):
        refuse(index)
    return _search(_readable_indices(index), {"size": LATEST_SIZE, "sort": [{"@timestamp": {"order": "desc"}}]},
                   count=False)


@proxy.route("/<index>/_search", methods=["GET", "POST"])
def search(index: str):
    """``_search`` over granted sensors (the index names are sensor ids, comma-separated)."""
    return _search(_readable_indices(index), _body(), count=False)


@proxy.route("/<index>/_count", methods=["GET", "POST"])
def count(index: str):
    """``_count`` over granted sensors."""
    return _search(_readable_indices(index), _body(), count=True)


@proxy.route('/<index>/<other_path("_search", "_count"):rest>', methods=_ALL_METHODS)
def refuse(index: str, rest: str = ""):
    """Anything else (writes, deletes, index and cluster calls) is refused: the proxy is read-only."""
    path = f"{index}/{rest}".rstrip("/")
    raise ForbiddenError(f"{request.method} /{path} is not allowed: this endpoint serves _search and _count "
                         "of granted sensors only", code="read_only")


@proxy.after_request
def product_header(response: Response) -> Response:
    # The official client refuses any reply without it (its product check).
    response.headers["X-Elastic-Product"] = "Elasticsearch"
    return response


@proxy.errorhandler(AppError)
def elasticsearch_error(exc: AppError):
    """Errors in Elasticsearch's shape (what its client parses), keeping the platform's code and message."""
    kind = {400: "parsing_exception", 401: "security_exception", 403: "security_exception",
            404: "index_not_found_exception", 503: "unavailable_shards_exception"}.get(exc.status, "exception")
    cause = {"type": kind, "reason": exc.message}
    body = {"error": {"root_cause": [cause], **cause, "code": exc.code, "message": exc.message},
            "status": exc.status}
    response = current_app.json.response(body)
    response.status_code = exc.status
    response.headers.update(exc.headers)
    return response


def _readable_indices(index: str) -> list[str]:
    """The sensor ids named by an index expression; every one must be readable (no wildcards or _all).

    The ids are counted before anything is read, then read in one batch: a long list costs one Firestore call.
    """
    names = list(dict.fromkeys(name.strip() for name in index.split(",") if name.strip()))
    if not names or any(name.startswith(("_", "-")) or any(c in name for c in "*?") for name in names):
        raise ForbiddenError("name granted sensors by id; wildcards and _all are not allowed", code="read_only")
    if len(names) > MAX_SENSORS:
        raise BadRequestError(f"name at most {MAX_SENSORS} sensors per request", code="invalid_query")
    try:
        return [sensor.id for sensor in sensors_for_reading(names)]
    except NotFoundError as exc:
        raise NotFoundError(f"no such index: {exc.message}") from None


def _body() -> dict:
    if not request.get_data(cache=True):
        return {}
    return json_body()


def _search(sensor_ids: list[str], body: dict, *, count: bool):
    if request.args:
        # Elasticsearch would read them (size, q, sort, _source...); the grammar covers the body only.
        raise BadRequestError(f"query-string parameters are not supported ({', '.join(sorted(request.args))}): "
                              "put the search in the body", code="invalid_query")
    try:
        return wiring_of().telemetry.search(sensor_ids, body, count=count)
    except QueryError as exc:
        raise BadRequestError(str(exc), code="invalid_query") from None


def _csv(points: list[dict], next_cursor: str | None, *, text: bool) -> Response:
    response = Response(readings_csv(points, text=text), mimetype="text/csv")
    if next_cursor:
        response.headers["X-Next-Cursor"] = next_cursor
    return response
