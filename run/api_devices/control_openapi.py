"""OpenAPI fragment of device control on api-devices: a device's status, its twin and its commands."""

from __future__ import annotations

from infra.domain.control import (COMMAND_DEFAULT_TTL, COMMAND_MAX_BYTES, COMMAND_MAX_TTL, COMMAND_NAME,
                                  COMMAND_STATUSES, TWIN_MAX_BYTES, TWIN_MAX_DEPTH)
from infra.usecases.control import DEVICE_STATUSES
from infra.web.openapi import (ID, LIST_PARAMETERS, TIMESTAMP, list_schema, obj, operation, path_parameter,
                               query_parameter, ref)

TAG = "device control"
TAGS = [{"name": TAG, "description": "A device's desired and reported state (its twin) and commands to it "
                                    "(docs/device-control.md). Devices use gateway-http, gateway-ws or gateway-mqtt."}]

DEVICE_ID = path_parameter("device_id", "The device's id.")
COMMAND_ID = path_parameter("command_id", "The command's id.")
MAYBE_TIMESTAMP = {**TIMESTAMP, "type": ["string", "null"]}
ANY_JSON = {"description": "Any JSON value."}
DOCUMENT = {"type": "object", "description": f"A JSON object of at most {TWIN_MAX_BYTES} bytes and "
                                             f"{TWIN_MAX_DEPTH} levels."}
ETAG = {"ETag": {"schema": {"type": "string"}, "description": 'The desired version, quoted: "3".'}}
IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
            "description": 'The desired version this update replaces ("3", as the ETag); a stale one is 412.'}
VERSION = query_parameter("version", "The desired version this update replaces (instead of If-Match).",
                          {"type": "integer", "minimum": 0})

STATUS_FILTER = query_parameter("status", "Only devices that are online (connected, or seen within "
                                          "IOT_ONLINE_WINDOW seconds) or offline. A filtered page may hold fewer "
                                          "items than `limit` while `next_cursor` is not null.",
                                {"type": "string", "enum": list(DEVICE_STATUSES)})

SCHEMAS = {
    "DeviceStatus": obj({"online": {"type": "boolean"}, "connected": {"type": "boolean"},
                         "protocols": {"type": "array", "items": {"type": "string"},
                                       "description": "Protocols of the open WebSocket or MQTT sessions."},
                         "connected_since": MAYBE_TIMESTAMP,
                         "last_seen": {**MAYBE_TIMESTAMP, "description": "At most IOT_PRESENCE_INTERVAL seconds "
                                                                         "behind the device's last message."}},
                        ["online", "connected", "protocols", "connected_since", "last_seen"]),
    "Twin": obj({"device_id": ID, "desired": DOCUMENT, "desired_version": {"type": "integer", "minimum": 0},
                 "desired_at": MAYBE_TIMESTAMP, "reported": DOCUMENT,
                 "reported_version": {"type": "integer", "minimum": 0}, "reported_at": MAYBE_TIMESTAMP,
                 "delta": {"type": "object", "description": "The desired keys whose value differs from the "
                                                            "reported one."}},
                ["device_id", "desired", "desired_version", "desired_at", "reported", "reported_version",
                 "reported_at", "delta"]),
    "CommandCreate": obj({"name": {"type": "string", "pattern": f"^{COMMAND_NAME.pattern}$"},
                          "payload": {**ANY_JSON, "description": f"Any JSON value of at most {COMMAND_MAX_BYTES} "
                                                                 "bytes."},
                          "ttl": {"type": "integer", "minimum": 1, "maximum": COMMAND_MAX_TTL,
                                  "default": COMMAND_DEFAULT_TTL,
                                  "description": "Seconds the command waits for its device before it expires."}},
                         ["name"]),
    "Command": obj({"id": ID, "device_id": ID, "name": {"type": "string"}, "payload": ANY_JSON,
                    "status": {"type": "string", "enum": list(COMMAND_STATUSES)}, "created_at": TIMESTAMP,
                    "expires_at": TIMESTAMP, "delivered_at": MAYBE_TIMESTAMP, "finished_at": MAYBE_TIMESTAMP,
                    "result": ANY_JSON, "error": {"type": ["string", "null"]}},
                   ["id", "device_id", "name", "payload", "status", "created_at", "expires_at", "delivered_at",
                    "finished_at", "result", "error"],
                   description="queued → delivered → succeeded or failed; expired when unanswered past expires_at."),
    "CommandList": list_schema("Command"),
}

PATHS = {
    "/api/devices/{device_id}/twin": {
        "parameters": [DEVICE_ID],
        "get": operation("getDeviceTwin", "The device's desired and reported state", TAG, reply=ref("Twin"),
                         errors=[404], reply_headers=ETAG),
    },
    "/api/devices/{device_id}/twin/desired": {
        "parameters": [DEVICE_ID],
        "put": operation("setDesiredState", "Replace the device's desired state", TAG, reply=ref("Twin"),
                         body=DOCUMENT, parameters=[IF_MATCH, VERSION], errors=[404, 412, 413], reply_headers=ETAG,
                         description="A new desired version; keys set to null are left out. Without If-Match or "
                                     "?version= the update is unconditional. Connected devices get it at once, "
                                     "HTTP devices when they next read it."),
    },
    "/api/devices/{device_id}/commands": {
        "parameters": [DEVICE_ID],
        "get": operation("listDeviceCommands", "The device's commands, newest first", TAG, reply=ref("CommandList"),
                         parameters=[*LIST_PARAMETERS,
                                     query_parameter("status", "Only commands in this lifecycle status. A filtered "
                                                               "page may hold fewer items than `limit` while "
                                                               "`next_cursor` is not null.",
                                                     {"type": "string", "enum": list(COMMAND_STATUSES)})],
                         errors=[400, 404]),
        "post": operation("sendDeviceCommand", "Queue a command for the device", TAG, ok=201,
                          reply_description="Queued", reply=ref("Command"), body=ref("CommandCreate"),
                          errors=[404, 413],
                          description="Stored first, then delivered to the device's open connection, or when it "
                                      "next polls or connects, until its ttl runs out."),
    },
    "/api/devices/{device_id}/commands/{command_id}": {
        "parameters": [DEVICE_ID, COMMAND_ID],
        "get": operation("getDeviceCommand", "One command and where it is in its lifecycle", TAG,
                         reply=ref("Command"), errors=[404]),
    },
}
