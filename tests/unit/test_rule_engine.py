"""The rules service's use case on in-memory fakes: alerts are finished once even when publishing fails and the
message comes again, webhooks are retried with doubling backoff and every attempt is logged."""

import base64
from dataclasses import replace

import orjson
import pytest

from infra.domain.alerts import DELIVERED, FAILED, NO_WEBHOOK, verify_signature
from infra.domain.errors import ServiceUnavailableError
from infra.domain.model import Page
from infra.domain.ports import PublishError
from infra.domain.rules import NS, Rule, RuleState
from infra.domain.telemetry import MESSAGE_SCHEMA, format_timestamp
from infra.usecases.rule_engine import Delivery, RuleEngine

T0 = 1_764_300_000 * NS
RULE = Rule(id="r1", owner_id="o", sensor_id="s1", device_id="d", name="hot", kind="threshold", operator="above",
            value=50)


class Store:
    """The RuleStore port in memory: rules with secrets, states by rule, alerts by id."""

    def __init__(self, *rules: Rule):
        self.rules = {rule.id: (rule, "secret") for rule in rules}
        self.states: dict[str, RuleState] = {}
        self.alerts: dict[str, dict] = {}

    def get_rule(self, rule_id):
        return self.rules.get(rule_id)

    def rules_of_sensors(self, sensor_ids):
        return {s: [r for r, _ in self.rules.values() if r.sensor_id == s] for s in sensor_ids}

    def no_data_rules(self):
        return [r for r, _ in self.rules.values() if r.kind == "no_data"]

    def apply(self, rules, step):
        current = {rule.id: self.states.get(rule.id, RuleState()) for rule in rules}
        changed, fired = step(current)
        self.states.update(changed)
        for alert in fired:
            self.alerts[alert.id] = {"alert": alert, "done": False, "delivery": None}
        return fired

    def unfinished_alerts(self, message_key=None, limit=100):
        return [a["alert"] for a in self.alerts.values()
                if not a["done"] and message_key in (None, a["alert"].message_key)]

    def finish_alert(self, alert_id, delivery):
        self.alerts[alert_id].update(done=True, delivery=delivery)

    def list_alerts(self, **_):
        return Page([])


class Publisher:
    def __init__(self):
        self.sent, self.failing = [], False

    def publish(self, data, **attributes):
        if self.failing:
            raise PublishError("down")
        self.sent.append(orjson.loads(data))
        return str(len(self.sent))


class Webhooks:
    def __init__(self, statuses):
        self.statuses, self.calls = list(statuses), []

    def post(self, url, body, headers):
        self.calls.append((url, body, headers))
        status = self.statuses.pop(0) if self.statuses else 200
        return status, None if status < 300 else f"HTTP {status}"


def push(values, message_id="m1"):
    data = {"device_id": "d", "owner_id": "o", "received_at": format_timestamp(T0), "gateway": "http",
            "records": [{"sensor_id": "s1", "type": "double", "timestamp": format_timestamp(T0 + i * NS), "value": v}
                        for i, v in enumerate(values)]}
    return orjson.dumps({"message": {"data": base64.b64encode(orjson.dumps(data)).decode(), "messageId": message_id,
                                     "attributes": {"schema": MESSAGE_SCHEMA}}})


def engine(store, publisher, webhooks, sleeps=None):
    return RuleEngine(store, publisher, webhooks, Delivery(attempts=3, backoff=0.5),
                      sleep=(sleeps.append if sleeps is not None else lambda s: None), clock=lambda: T0)


def test_an_alert_left_unpublished_is_finished_by_the_redelivery_exactly_once():
    store, publisher = Store(RULE), Publisher()
    rules = engine(store, publisher, Webhooks([]))
    publisher.failing = True
    with pytest.raises(ServiceUnavailableError):
        rules.handle_push(push([10, 60]))
    assert len(store.alerts) == 1 and publisher.sent == []
    publisher.failing = False
    rules.handle_push(push([10, 60]))  # Pub/Sub redelivers: the rule already applied it, the alert is finished
    rules.handle_push(push([10, 60]))
    assert [e["state"] for e in publisher.sent] == ["fired"]
    [stored] = store.alerts.values()
    assert stored["done"] and stored["delivery"] == {"status": NO_WEBHOOK, "attempts": []}


def test_the_tick_finishes_what_a_crashed_instance_left():
    store, publisher = Store(RULE), Publisher()
    publisher.failing = True
    with pytest.raises(ServiceUnavailableError):
        engine(store, publisher, Webhooks([])).handle_push(push([60]))
    publisher.failing = False
    assert engine(store, publisher, Webhooks([])).tick(T0 + 60 * NS).alerts == 1
    assert [e["state"] for e in publisher.sent] == ["fired"]


def test_a_webhook_is_retried_with_doubling_backoff_and_signed():
    store = Store(replace(RULE, webhook_url="https://example.com/hook"))
    sleeps, hooks = [], Webhooks([500, 503, 200])
    engine(store, Publisher(), hooks, sleeps).handle_push(push([60]))
    assert sleeps == [0.5, 1.0]
    [stored] = store.alerts.values()
    assert stored["delivery"]["status"] == DELIVERED
    assert [a["status"] for a in stored["delivery"]["attempts"]] == [500, 503, 200]
    url, body, headers = hooks.calls[0]
    assert url == "https://example.com/hook" and verify_signature("secret", body, headers["X-IoT-Signature"])


def test_a_webhook_failing_every_attempt_is_recorded_failed_and_the_message_acknowledged():
    store = Store(replace(RULE, webhook_url="https://example.com/hook"))
    hooks = Webhooks([500, 500, 500, 500])
    outcome = engine(store, Publisher(), hooks).handle_push(push([60]))
    assert outcome.alerts == 1 and len(hooks.calls) == 3
    [stored] = store.alerts.values()
    assert stored["done"] and stored["delivery"]["status"] == FAILED
    assert [a["error"] for a in stored["delivery"]["attempts"]] == ["HTTP 500"] * 3


def test_messages_without_numeric_readings_or_of_another_schema_are_acknowledged_untouched():
    store, publisher = Store(RULE), Publisher()
    rules = engine(store, publisher, Webhooks([]))
    assert rules.handle_push(b"not json").evaluated == 0
    refusal = orjson.loads(push([60]))
    refusal["message"]["attributes"]["schema"] = "refusal/v1"
    assert rules.handle_push(orjson.dumps(refusal)).evaluated == 0
    assert store.states == {} and publisher.sent == []
