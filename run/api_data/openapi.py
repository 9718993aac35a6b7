"""OpenAPI fragment of api-data: the time-range data API and the read-only Elasticsearch proxy."""

from __future__ import annotations

from infra.domain.forecast import AUTO, HOLT_WINTERS, LINEAR, METHODS
from infra.web.openapi import obj, operation, path_parameter, query_parameter, ref
from infra.domain.queries import AGGREGATIONS, DEFAULT_LIMIT, MAX_BUCKETS, MAX_LIMIT, MAX_SIZE, MAX_WINDOW

TAG = "data"
PROXY_TAG = "consume"
TAGS = [
    {"name": TAG, "description": "Reading a sensor's telemetry: time ranges, pages, downsampling, CSV."},
    {"name": PROXY_TAG, "description": "A read-only, Elasticsearch-compatible endpoint for consumers: point the "
                                       "official client at `/api/consumers/consume` with a consumer key as "
                                       "bearer token; index names are sensor ids."},
]

TIME = {"type": "string", "description": "ISO-8601, or epoch seconds, ms, µs or ns (told apart by magnitude)"}
VALUE = {"description": "The reading, typed as its sensor (number, integer, boolean or string)"}
POINT = obj({"timestamp": {"type": "string", "description": "ISO-8601 UTC with nine fractional digits"},
             "value": VALUE}, ["timestamp", "value"])
ES_REPLY = {"type": "object", "description": "Elasticsearch's own reply, restricted to granted sensors"}
ES_QUERY = {"type": "object", "description": f"An Elasticsearch search body: query, size (≤ {MAX_SIZE}), from "
                                             f"(from + size ≤ {MAX_WINDOW}), sort, search_after, _source, aggs "
                                             "or aggregations, track_total_hits (a count: query only), each down "
                                             "to its options as the README's grammar lists them. Anything else, "
                                             "and any query-string parameter, is refused (400) naming where."}
READERS = "A user token (the owner, or an admin) or a consumer token with a grant on the sensor."
SENSOR_ID = path_parameter("sensor_id", "The sensor's id.")
INDEX = path_parameter("index", "Granted sensor ids, comma-separated (no wildcards, no _all).")

SCHEMAS = {
    "ExportEstimate": obj({"device_id": {"type": "string"}, "format": {"type": "string", "enum": ["csv", "ndjson"]},
                           "readings": {"type": "integer", "minimum": 0},
                           "sensors": {"type": "integer", "minimum": 0},
                           "approximate_bytes": {"type": "integer", "minimum": 0}},
                          ["device_id", "format", "readings", "sensors", "approximate_bytes"],
                          description="The size of an export (`estimate=1`), for a progress bar."),
    "Point": POINT,
    "SensorData": obj({"sensor_id": {"type": "string"}, "type": {"type": "string"},
                       "points": {"type": "array", "items": ref("Point")},
                       "next_cursor": {"type": ["string", "null"]},
                       "interval": {"type": "string"}, "agg": {"type": "string", "enum": list(AGGREGATIONS)}},
                      ["sensor_id", "type", "points", "next_cursor"]),
    "Forecast": obj({"sensor_id": {"type": "string"},
                     "method": {"type": "string", "enum": [LINEAR, HOLT_WINTERS]},
                     "interval": {"type": "string"},
                     "period": {"type": ["string", "null"], "description": "Holt-Winters' season, e.g. `1d`"},
                     "fit_error": obj({"rmse": {"type": ["number", "null"]},
                                       "holdout_points": {"type": "integer"}}, ["rmse", "holdout_points"],
                                      description="Root-mean-square error of the method's forecast of the last "
                                                  "fifth of the history, fitted on what comes before it"),
                     "history_points": {"type": "integer"},
                     "points": {"type": "array", "items": ref("Point")}},
                    ["sensor_id", "method", "interval", "period", "fit_error", "history_points", "points"]),
}


def _proxy(operation_id: str, summary: str, *, body: bool = False, ok_reply: dict = ES_REPLY, **kwargs) -> dict:
    op = operation(operation_id, summary, PROXY_TAG, reply=ok_reply, errors=[400, 403, 404], security=None,
                   **kwargs)
    op["security"] = [{"consumerToken": []}, {"userToken": []}]
    op["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
    if body:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": ES_QUERY}}}
    return op


def _sensor_data() -> dict:
    """``GET /api/sensors/{sensor_id}/data``: JSON, or CSV with the next cursor in a header; user or consumer."""
    op = operation(
        "getSensorData", "A sensor's readings in a time range, newest first, paged or downsampled", TAG,
        reply=ref("SensorData"), errors=[400, 403, 404],
        reply_headers={"X-Next-Cursor": {"schema": {"type": "string"},
                                         "description": "With `format=csv`: the cursor of the next page, if any."}},
        description=f"{READERS} Pages hold `limit` points (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}); "
                    "follow `next_cursor`. With `interval` (e.g. `1m`) the reply holds one point per "
                    f"non-empty bucket (at most {MAX_BUCKETS}), the bucket's start as its timestamp. "
                    "`format=csv` answers text/csv (`timestamp,value`), the next cursor in `X-Next-Cursor`.",
        parameters=[
            query_parameter("from", "Start of the range (inclusive).", TIME),
            query_parameter("to", "End of the range (exclusive).", TIME),
            query_parameter("limit", "Points per page.", {"type": "integer", "minimum": 1,
                                                          "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
            query_parameter("cursor", "`next_cursor` of the previous page."),
            query_parameter("order", "Newest first (desc) or oldest first.",
                            {"type": "string", "enum": ["desc", "asc"], "default": "desc"}),
            query_parameter("interval", "Downsample into fixed buckets: a whole number of ms, s, m, h or d.",
                            {"type": "string", "pattern": "^[1-9][0-9]*(ms|s|m|h|d)$"}),
            query_parameter("agg", "Aggregation per bucket (min/max/avg/sum need a numeric sensor).",
                            {"type": "string", "enum": list(AGGREGATIONS), "default": "avg"}),
            query_parameter("format", "Reply format.", {"type": "string", "enum": ["json", "csv"]}),
        ])
    op["security"] = [{"userToken": []}, {"consumerToken": []}]
    op["responses"]["200"]["content"]["text/csv"] = {"schema": {"type": "string",
                                                                "description": "A `timestamp,value` header row, "
                                                                               "then one row per point."}}
    return op


def _export() -> dict:
    op = operation(
        "exportDevice", "Every reading of a device in a time range, streamed as CSV or NDJSON", TAG,
        reply=ref("ExportEstimate"), errors=[400, 404],
        reply_headers={"Content-Disposition": {"schema": {"type": "string"},
                                               "description": "attachment; filename=\"device-ID.csv\""}},
        description="The owner or an admin. Oldest first, one row per reading of the device's current sensors: "
                    "`timestamp,sensor_id,sensor,type,value` (CSV, with a header; text quoted and defused against "
                    "spreadsheet formulas) or one JSON object per line (NDJSON). The reply is streamed (chunked) "
                    "straight from the store, a page at a time. `estimate=1` answers the size instead (JSON).",
        parameters=[
            query_parameter("from", "Start of the range (inclusive).", TIME),
            query_parameter("to", "End of the range (exclusive).", TIME),
            query_parameter("format", "Export format.", {"type": "string", "enum": ["csv", "ndjson"],
                                                          "default": "csv"}),
            query_parameter("estimate", "1: answer the number of readings and approximate bytes instead.",
                            {"type": "string", "enum": ["0", "1", "true", "false"]}),
        ])
    content = op["responses"]["200"]["content"]
    content["text/csv"] = {"schema": {"type": "string", "description": "A header row, then one row per reading."}}
    content["application/x-ndjson"] = {"schema": {"type": "string", "description": "One JSON object per line."}}
    return op


def _sensor_forecast() -> dict:
    """``GET /api/sensors/{sensor_id}/forecast``: predicted points of a numeric sensor; user or consumer."""
    duration = {"type": "string", "pattern": "^[1-9][0-9]*(ms|s|m|h|d)$"}
    op = operation(
        "getSensorForecast", "Predicted readings of a numeric sensor for a horizon", TAG,
        reply=ref("Forecast"), errors=[400, 403, 404],
        description=f"{READERS} Averages the sensor's history into `interval` buckets and continues it for "
                    "`horizon`: a linear trend, or additive Holt-Winters where the history has a period (given "
                    "as `period` or detected); `method=auto` keeps the one with the smaller error on a holdout. "
                    "400 `not_numeric` for other sensors, `cannot_forecast` for too short a history.",
        parameters=[
            {**query_parameter("horizon", "How far ahead to predict, e.g. `1h`.", duration), "required": True},
            query_parameter("interval", "Bucket (and prediction) step.", {**duration, "default": "1m"}),
            query_parameter("history", "How much history to fit on.", {**duration, "default": "1d"}),
            query_parameter("method", "Forecast method.", {"type": "string", "enum": list(METHODS),
                                                           "default": AUTO}),
            query_parameter("period", "Season length for Holt-Winters, a whole number of intervals.", duration),
            query_parameter("to", "End of the history (default: now).", TIME),
        ])
    op["security"] = [{"userToken": []}, {"consumerToken": []}]
    return op


PATHS = {
    "/api/exports/devices/{device_id}": {
        "parameters": [path_parameter("device_id", "The device's id.")],
        "get": _export(),
    },
    "/api/sensors/{sensor_id}/data": {
        "parameters": [SENSOR_ID],
        "get": _sensor_data(),
    },
    "/api/sensors/{sensor_id}/forecast": {
        "parameters": [SENSOR_ID],
        "get": _sensor_forecast(),
    },
    "/api/consumers/consume": {
        "get": _proxy("consumeInfo", "Cluster information (lets the official client ping)"),
    },
    "/api/consumers/consume/{index}": {
        "parameters": [INDEX],
        "get": _proxy("consumeLatest", "The original platform's call: a sensor's latest readings as a search "
                                       "reply"),
        **{method: _proxy(f"consumeRefused{method.title()}", "Refused: the endpoint is read-only (403)")
           for method in ("post", "put", "patch", "delete")},
    },
    "/api/consumers/consume/{index}/_search": {
        "parameters": [INDEX],
        "get": _proxy("consumeSearchGet", "Search granted sensors' readings", body=True),
        "post": _proxy("consumeSearch", "Search granted sensors' readings", body=True),
    },
    "/api/consumers/consume/{index}/_count": {
        "parameters": [INDEX],
        "get": _proxy("consumeCountGet", "Count granted sensors' readings", body=True),
        "post": _proxy("consumeCount", "Count granted sensors' readings", body=True),
    },
    "/api/consumers/consume/{index}/{rest}": {
        "parameters": [INDEX, path_parameter("rest", "Any other path below an index (one or more segments, "
                                                   "not `_search` or `_count` alone).")],
        **{method: _proxy(f"consumeRefusedBelow{method.title()}",
                          "Refused: only _search and _count are served (403)")
           for method in ("get", "post", "put", "patch", "delete")},
    },
}
