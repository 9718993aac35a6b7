"""OpenAPI fragment of alert rules and alerts: ``/api/rules`` and ``/api/alerts`` on api-devices, and a sensor's
alerts on api-data (``/api/sensors/{sensor_id}/alerts``, for consumers too)."""

from __future__ import annotations

from infra.domain.alerts import DELIVERED, FAILED, NO_WEBHOOK, PENDING, SIGNATURE_HEADER
from infra.domain.rules import (ABOVE, ANY, BELOW, CLEARED, FALL, FIRED, KINDS, MAX_PERIOD_SECONDS, RISE,
                                RULE_NAME_MAX, WEBHOOK_URL_MAX)
from infra.web.openapi import ID, LIST_PARAMETERS, TIMESTAMP, list_schema, obj, operation, path_parameter, \
    query_parameter, ref

TAG = "rules"
TAGS = [{"name": TAG, "description": "Alert rules on numeric sensors (threshold, rate of change, no data, forecast) and the "
                                    "alerts they raise: stored, published on the `alerts` topic and POSTed to an "
                                    "optional webhook signed with HMAC-SHA256 (docs/rules.md)."}]

RULE_ID = path_parameter("rule_id", "The rule's id.")
SENSOR_ID = path_parameter("sensor_id", "The sensor's id.")
SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_PERIOD_SECONDS}
FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": RULE_NAME_MAX},
    "kind": {"type": "string", "enum": list(KINDS)},
    "operator": {"type": "string", "enum": [ABOVE, BELOW], "description": "threshold, forecast: above or below `value`"},
    "value": {"type": "number", "description": "threshold, forecast: the limit"},
    "sustained_for": {"type": "number", "minimum": 0, "maximum": MAX_PERIOD_SECONDS,
                      "description": "threshold: seconds the condition must hold before it fires (default 0)"},
    "change": {"type": "number", "exclusiveMinimum": 0, "description": "rate: the change per `period` that fires"},
    "period": {**SECONDS, "description": "rate: the period of `change`; no_data: the silence that fires; "
                                  "forecast: the horizon the trend is read at"},
    "direction": {"type": "string", "enum": [RISE, FALL, ANY], "description": "rate: which changes count"},
    "webhook_url": {"type": ["string", "null"], "maxLength": WEBHOOK_URL_MAX,
                    "description": "https URL the alerts are POSTed to (http to loopback in development)"},
    "enabled": {"type": "boolean"},
}
RULE = obj({"id": ID, "owner_id": ID, "sensor_id": ID, "device_id": ID, **FIELDS}, [
    "id", "owner_id", "sensor_id", "device_id", "name", "kind", "webhook_url", "enabled"])
SECRET = {"type": "string", "description": f"The webhook secret: each POST carries `{SIGNATURE_HEADER}: sha256=<hex "
                                           "HMAC-SHA256 of the body>`. Shown only on creation and rotation."}
ATTEMPT = obj({"at": TIMESTAMP, "status": {"type": ["integer", "null"]}, "error": {"type": ["string", "null"]}},
              ["at", "status", "error"])
ALERT = obj({"id": {"type": "string"}, "rule_id": ID, "rule_name": {"type": "string"}, "owner_id": ID,
             "sensor_id": ID, "device_id": ID, "state": {"type": "string", "enum": [FIRED, CLEARED]},
             "at": TIMESTAMP, "value": {"type": ["number", "null"]}, "reason": {"type": "string"},
             "done": {"type": "boolean", "description": "Published and its webhook delivery settled"},
             "delivery": obj({"status": {"type": "string", "enum": [PENDING, DELIVERED, FAILED, NO_WEBHOOK]},
                              "attempts": {"type": "array", "items": ref("DeliveryAttempt")}},
                             ["status", "attempts"])},
            ["id", "rule_id", "rule_name", "owner_id", "sensor_id", "device_id", "state", "at", "value", "reason",
             "done", "delivery"])
FILTER = {"type": "string", "pattern": "^[a-z0-9]{1,64}$"}

SCHEMAS = {
    "Rule": RULE,
    "RuleWithSecret": {**RULE, "properties": {**RULE["properties"], "webhook_secret": SECRET},
                       "required": [*RULE["required"], "webhook_secret"]},
    "RuleCreate": obj({"sensor_id": ID, **FIELDS}, ["name", "sensor_id", "kind"],
                      description="threshold needs operator and value; rate needs change and period; no_data needs "
                                  "period; forecast needs operator, value and period. Fields of another kind are refused."),
    "RulePatch": obj(FIELDS, description="Any fields of the rule's own kind; sensor_id and kind are fixed."),
    "RuleList": list_schema("Rule"),
    "DeliveryAttempt": ATTEMPT,
    "Alert": ALERT,
    "AlertList": list_schema("Alert"),
}

PATHS = {
    "/api/rules": {
        "get": operation("listRules", "The caller's rules (admins: everyone's)", TAG, reply=ref("RuleList"),
                         parameters=[*LIST_PARAMETERS, query_parameter("sensor_id", "Only this sensor's.", FILTER)],
                         errors=[400]),
        "post": operation("createRule", "Create an alert rule on a numeric sensor", TAG, ok=201,
                          reply_description="Created", reply=ref("RuleWithSecret"), body=ref("RuleCreate"),
                          errors=[404], description="400 `not_numeric` for a sensor of another type; 404 for a "
                                                    "sensor the caller does not own."),
    },
    "/api/rules/{rule_id}": {
        "parameters": [RULE_ID],
        "get": operation("getRule", "One rule", TAG, reply=ref("Rule"), errors=[404]),
        "patch": operation("patchRule", "Change a rule", TAG, reply=ref("Rule"), body=ref("RulePatch"),
                           errors=[404]),
        "delete": operation("deleteRule", "Delete a rule (its alerts stay)", TAG, ok=204, errors=[404]),
    },
    "/api/rules/{rule_id}/secret/rotate": {
        "parameters": [RULE_ID],
        "post": operation("rotateRuleSecret", "A new webhook secret for the rule", TAG, reply=ref("RuleWithSecret"),
                          errors=[404]),
    },
    "/api/alerts": {
        "get": operation("listAlerts", "The caller's alerts, newest first, with their webhook delivery logs", TAG,
                         reply=ref("AlertList"),
                         parameters=[*LIST_PARAMETERS, query_parameter("sensor_id", "Only this sensor's.", FILTER),
                                     query_parameter("rule_id", "Only this rule's.", FILTER)],
                         errors=[400]),
    },
}


def _sensor_alerts() -> dict:
    op = operation("listSensorAlerts", "A sensor's alerts, newest first", TAG, reply=ref("AlertList"),
                   parameters=LIST_PARAMETERS, errors=[400, 403, 404],
                   description="A user token (the owner, or an admin) or a consumer token with a grant on the sensor.")
    op["security"] = [{"userToken": []}, {"consumerToken": []}]
    return op


PATHS["/api/sensors/{sensor_id}/alerts"] = {"parameters": [SENSOR_ID], "get": _sensor_alerts()}
