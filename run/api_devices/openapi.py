"""OpenAPI fragment of api-devices: devices, sensors, the sensor tree and device keys."""

from __future__ import annotations

from infra.domain.model import PATH_MAX_DEPTH, PATH_PART_MAX, UNIT_MAX
from infra.web.openapi import (DESCRIPTION_FIELD, DESCRIPTION_INPUT, ID, LIST_PARAMETERS, NAME, TIMESTAMP, list_schema,
                           obj, operation, keyholder_fragment, path_parameter, query_parameter, ref)
from infra.domain.rejections import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT
from infra.domain.telemetry import SENSOR_TYPES, TYPE_ALIASES
from run.api_devices.control_openapi import STATUS_FILTER
from run.api_devices.deletion_openapi import accepting

TAG = "devices"
TAGS = [{"name": TAG, "description": "Devices, their sensors (grouped in a tree) and device keys."}]

_SCHEMAS, _PATHS, DEVICE_ID = keyholder_fragment(
    "device", TAG, deletes="with its sensors and their grants, its twin and its commands",
    key_description="A device token (audience `device`) for the current key version.")
# Every device reply carries the device's status, and the list filters by it (run/api_devices/device_replies.py).
_SCHEMAS["Device"]["properties"]["status"] = ref("DeviceStatus")
_SCHEMAS["Device"]["required"].append("status")
_PATHS["/api/devices"]["get"]["parameters"].append(STATUS_FILTER)
accepting(_PATHS["/api/devices/{device_id}"]["delete"])
SENSOR_ID = path_parameter("sensor_id", "The sensor's id.")
SENSOR_TYPE = {"type": "string", "enum": list(SENSOR_TYPES)}
PATH = {"type": "array", "maxItems": PATH_MAX_DEPTH,
        "items": {"type": "string", "minLength": 1, "maxLength": PATH_PART_MAX},
        "description": 'Groups placing the sensor in the device tree, e.g. ["Wheels", "Front", "Left"].'}
PATH_INPUT = {**PATH, "type": ["array", "null"], "description": PATH["description"] + " null means none."}
MAPPING_OBJECT = obj({"type": {"type": "string", "enum": list(SENSOR_TYPES) + list(TYPE_ALIASES)},
                      "unit": {"type": ["string", "null"], "maxLength": UNIT_MAX}}, ["type"])

SCHEMAS = {
    **_SCHEMAS,
    "Mapping": obj({"type": SENSOR_TYPE, "unit": {"type": "string", "maxLength": UNIT_MAX}}, ["type"],
                   description="The normalised mapping: aliases resolved (float→double, integer→long, "
                               "string/text→keyword)."),
    "MappingInput": {"description": "A mapping object, or the same as a JSON string (the original API's form, "
                                    'e.g. "{\\"type\\":\\"double\\"}"). An unknown type is 400 '
                                    "`unknown_sensor_type`.",
                     "oneOf": [MAPPING_OBJECT, {"type": "string"}]},
    "Sensor": obj({"id": ID, "device_id": ID, "owner_id": ID, "name": NAME, "description": DESCRIPTION_FIELD,
                   "type": SENSOR_TYPE, "mapping": ref("Mapping"), "path": PATH, "created_at": TIMESTAMP,
                   "updated_at": TIMESTAMP},
                  ["id", "device_id", "owner_id", "name", "description", "type", "mapping", "path", "created_at",
                   "updated_at"]),
    "SensorList": list_schema("Sensor"),
    "SensorCreate": obj({"name": NAME, "description": DESCRIPTION_INPUT, "mapping": ref("MappingInput"),
                         "path": PATH_INPUT}, ["name", "mapping"]),
    "SensorPatch": obj({"name": NAME, "description": DESCRIPTION_INPUT, "path": PATH_INPUT},
                       description="The type (mapping), device and owner of a sensor cannot change."),
    "Rejection": obj({"id": {"type": "string"}, "owner_id": {"type": ["string", "null"]},
                      "device_id": {"type": ["string", "null"]}, "sensor_id": {"type": ["string", "null"]},
                      "source": {"type": "string"}, "reason": {"type": "string"},
                      "message_id": {"type": "string"}, "part": {"type": ["string", "null"]},
                      "at": {"type": ["string", "null"], "format": "date-time"}, "sample": {"type": "string"}},
                     ["id", "source", "reason", "message_id", "at", "sample"]),
    "RejectionList": obj({"items": {"type": "array", "items": ref("Rejection")}}, ["items"]),
    "TreeGroup": obj({"name": {"type": "string"}, "groups": {"type": "array", "items": ref("TreeGroup")},
                      "sensors": {"type": "array", "items": ref("Sensor")}}, ["name", "groups", "sensors"]),
    "DeviceTree": obj({"device_id": ID, "name": NAME, "groups": {"type": "array", "items": ref("TreeGroup")},
                       "sensors": {"type": "array", "items": ref("Sensor"),
                                   "description": "Sensors without a path."}},
                      ["device_id", "name", "groups", "sensors"]),
}

PATHS = {
    **_PATHS,
    "/api/devices/{device_id}/rejections": {
        "parameters": [DEVICE_ID],
        "get": operation("listDeviceRejections", "Telemetry of the device refused for good, newest first", TAG,
                         reply=ref("RejectionList"), errors=[400, 404],
                         parameters=[query_parameter("limit", "Items to return.",
                                                     {"type": "integer", "minimum": 1,
                                                      "maximum": MAX_LIST_LIMIT,
                                                      "default": DEFAULT_LIST_LIMIT})],
                         description="Messages or records the pipeline or the MQTT gateway accepted from the "
                                     "device but could not store (e.g. a reading its sensor's type refuses), "
                                     "kept for 30 days with the reason and a sample."),
    },
    "/api/devices/{device_id}/tree": {
        "parameters": [DEVICE_ID],
        "get": operation("getDeviceTree", "The device's sensors nested under the groups of their paths", TAG,
                         reply=ref("DeviceTree"), errors=[404]),
    },
    "/api/devices/{device_id}/sensors": {
        "parameters": [DEVICE_ID],
        "get": operation("listSensors", "The sensors of a device", TAG, reply=ref("SensorList"),
                         parameters=LIST_PARAMETERS, errors=[400, 404]),
        "post": operation("createSensor", "Add a sensor to a device", TAG, ok=201, reply_description="Created",
                          reply=ref("Sensor"), body=ref("SensorCreate"), errors=[404]),
    },
    "/api/devices/{device_id}/sensors/{sensor_id}": {
        "parameters": [DEVICE_ID, SENSOR_ID],
        "get": operation("getSensor", "One sensor", TAG, reply=ref("Sensor"), errors=[404]),
        "patch": operation("updateSensor", "Change a sensor's name, description or path", TAG,
                           body=ref("SensorPatch"), reply=ref("Sensor"), errors=[404]),
        "delete": accepting(operation("deleteSensor", "Delete a sensor and the grants on it", TAG, ok=204,
                                      reply_description="Deleted", errors=[404])),
    },
}
