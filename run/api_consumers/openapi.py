"""OpenAPI fragment of api-consumers: consumers, grants and consumer keys."""

from __future__ import annotations

from infra.web.openapi import (ID, LIST_PARAMETERS, TIMESTAMP, keyholder_fragment, obj, operation, path_parameter,
                           ref)

TAG = "consumers"
TAGS = [{"name": TAG, "description": "Consumers, the sensors granted to them, and consumer keys."}]

_SCHEMAS, _PATHS, CONSUMER_ID = keyholder_fragment(
    "consumer", TAG, deletes="and its grants",
    key_description="A consumer token (audience `consumer`) for the current key version.")

SENSOR_ID = path_parameter("sensor_id", "The granted sensor's id.")

SCHEMAS = {
    **_SCHEMAS,
    "GrantCreate": obj({"sensor_id": {"anyOf": [ID, {"type": "integer", "description": "read as its decimal string"}]}},
                       ["sensor_id"]),
    "Grant": obj({"consumer_id": ID, "sensor_id": ID, "device_id": ID, "owner_id": ID, "created_at": TIMESTAMP},
                 ["consumer_id", "sensor_id", "device_id", "owner_id", "created_at"]),
}

PATHS = {
    **_PATHS,
    "/api/consumers/{consumer_id}/sensors": {
        "parameters": [CONSUMER_ID],
        "get": operation("listGrantedSensors", "The sensors the consumer may read", TAG,
                         reply={"$ref": "#/components/schemas/SensorList"}, parameters=LIST_PARAMETERS,
                         errors=[400, 404]),
        "post": operation("grantSensor", "Let the consumer read a sensor", TAG, ok=201, reply_description="Created",
                          reply=ref("Grant"), body=ref("GrantCreate"), errors=[403, 404, 409],
                          description="The caller must be able to manage both, and both must have the same "
                                      "owner (403 `cross_tenant_grant` otherwise). 409 `already_granted`."),
    },
    "/api/consumers/{consumer_id}/sensors/{sensor_id}": {
        "parameters": [CONSUMER_ID, SENSOR_ID],
        "delete": operation("revokeSensor", "Take a sensor away from the consumer", TAG, ok=204,
                            reply_description="Revoked", errors=[404]),
    },
}
