"""OpenAPI fragment of api-consumers: consumers, grants and consumer keys."""

from __future__ import annotations

from infra.openapi import (DESCRIPTION_FIELD, ID, LIST_PARAMETERS, NAME, TIMESTAMP, list_schema, obj, operation,
                           path_parameter, query_parameter, ref)

TAG = "consumers"
TAGS = [{"name": TAG, "description": "Consumers, the sensors granted to them, and consumer keys."}]

CONSUMER_ID = path_parameter("consumer_id", "The consumer's id.")
SENSOR_ID = path_parameter("sensor_id", "The granted sensor's id.")

SCHEMAS = {
    "Consumer": obj({"id": ID, "owner_id": ID, "name": NAME, "description": DESCRIPTION_FIELD,
                     "key_version": {"type": "integer", "minimum": 1}, "created_at": TIMESTAMP,
                     "updated_at": TIMESTAMP},
                    ["id", "owner_id", "name", "description", "key_version", "created_at", "updated_at"]),
    "ConsumerList": list_schema("Consumer"),
    "ConsumerCreate": obj({"name": NAME, "description": DESCRIPTION_FIELD}, ["name"]),
    "ConsumerPatch": obj({"name": NAME, "description": DESCRIPTION_FIELD},
                         description="Only the name and description can change."),
    "ConsumerKey": obj({"token": {"type": "string"}, "consumer_id": ID, "key_version": {"type": "integer"}},
                       ["token", "consumer_id", "key_version"],
                       description="A consumer token (audience `consumer`) for the current key version."),
    "GrantCreate": obj({"sensor_id": ID}, ["sensor_id"]),
    "Grant": obj({"consumer_id": ID, "sensor_id": ID, "device_id": ID, "owner_id": ID, "created_at": TIMESTAMP},
                 ["consumer_id", "sensor_id", "device_id", "owner_id", "created_at"]),
}

OWNER_FILTER = query_parameter("owner_id", "Admins only: list one owner's objects (ignored for others).")

PATHS = {
    "/api/consumers": {
        "get": operation("listConsumers", "The caller's consumers (admins: everyone's)", TAG,
                         reply=ref("ConsumerList"), parameters=[*LIST_PARAMETERS, OWNER_FILTER], errors=[400]),
        "post": operation("createConsumer", "Create a consumer owned by the caller", TAG, ok=201,
                          reply_description="Created", reply=ref("Consumer"), body=ref("ConsumerCreate")),
    },
    "/api/consumers/{consumer_id}": {
        "parameters": [CONSUMER_ID],
        "get": operation("getConsumer", "One consumer", TAG, reply=ref("Consumer"), errors=[404]),
        "patch": operation("updateConsumer", "Change a consumer's name or description", TAG,
                           body=ref("ConsumerPatch"), reply=ref("Consumer"), errors=[404]),
        "delete": operation("deleteConsumer", "Delete a consumer and its grants", TAG, ok=204,
                            reply_description="Deleted", errors=[404]),
    },
    "/api/consumers/{consumer_id}/key": {
        "parameters": [CONSUMER_ID],
        "get": operation("getConsumerKey", "A consumer token for the current key version", TAG,
                         reply=ref("ConsumerKey"), errors=[404]),
    },
    "/api/consumers/{consumer_id}/key/rotate": {
        "parameters": [CONSUMER_ID],
        "post": operation("rotateConsumerKey", "Revoke every token of the consumer and return a new one", TAG,
                          reply=ref("ConsumerKey"), errors=[404]),
    },
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
