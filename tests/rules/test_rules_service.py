"""Rules on the stream through real processes: readings sent to gateway-http reach the rules service through the
``telemetry-rules`` push subscription; each rule kind fires once and clears once on a crafted series; a redelivered
message fires nothing twice; alerts reach the ``alerts`` topic and a signed webhook; a failing webhook is retried,
then recorded as failed."""

import base64
import time

import orjson
import pytest
import requests

from infra.domain.alerts import SIGNATURE_HEADER, verify_signature
from infra.domain.telemetry import MESSAGE_SCHEMA, format_timestamp
from tests.rules.conftest import wait_for

pytestmark = pytest.mark.e2e


def _rule(owner, sensor, **fields):
    return owner.call("POST", "/api/rules", json={"name": fields.pop("name", "r"), "sensor_id": sensor.id, **fields})


def _alerts(owner, rule_id):
    return owner.call("GET", "/api/alerts", params={"rule_id": rule_id})["items"]


def _settled(owner, rule_id, count):
    """The rule's alerts once there are ``count`` and each is done (oldest first)."""
    def ready():
        items = _alerts(owner, rule_id)
        return items if len(items) >= count and all(a["done"] for a in items) else None
    return list(reversed(wait_for(ready, what=f"{count} settled alerts of rule {rule_id}")))


def test_each_rule_kind_fires_once_and_clears_once_on_a_crafted_series(owner, sensor):
    high = _rule(owner, sensor, name="high", kind="threshold", operator="above", value=50)
    sustained = _rule(owner, sensor, name="sustained", kind="threshold", operator="above", value=50, sustained_for=25)
    rate = _rule(owner, sensor, name="jump", kind="rate", change=60, period=60, direction="rise")
    # 10 s apart: a short spike (20 s above 50), then 50 s above 50; two sharp rises (10 → 60, 20 → 55).
    sensor.send([10, 60, 61, 20, 20, 55, 56, 57, 58, 59, 30, 30])
    assert [(a["state"], a["value"]) for a in _settled(owner, high["id"], 4)] == [
        ("fired", 60), ("cleared", 20), ("fired", 55), ("cleared", 30)]
    assert [(a["state"], a["value"]) for a in _settled(owner, sustained["id"], 2)] == [
        ("fired", 58), ("cleared", 30)]
    # +50 in 10 s (300 per minute) fires, +1 clears; -41 is a fall and does not count; +35 fires, +1 clears.
    assert [(a["state"], a["value"]) for a in _settled(owner, rate["id"], 4)] == [
        ("fired", 60), ("cleared", 61), ("fired", 55), ("cleared", 56)]
    time.sleep(1)  # nothing more arrives later
    assert len(_alerts(owner, high["id"])) == 4


def test_a_forecast_rule_fires_before_the_value_crosses_and_clears_when_the_trend_turns(owner, sensor):
    soon = _rule(owner, sensor, name="soon hot", kind="forecast", operator="above", value=100, period=120)
    # +1 per second (readings 10 s apart): from the fifth reading, the line is far above 100 within 120 s; then it
    # falls by 20 per reading, and the trend of the last readings stops heading there.
    sensor.send([10, 20, 30, 40, 50, 60, 40, 20, 0, -20, -40, -60, -80, -100])
    fired, cleared = _settled(owner, soon["id"], 2)
    assert (fired["state"], fired["value"], cleared["state"]) == ("fired", 50, "cleared")
    assert "within 120 s" in fired["reason"]
    assert len(_alerts(owner, soon["id"])) == 2


def test_no_data_fires_once_on_the_tick_and_clears_when_data_returns(owner, sensor, services):
    rule = _rule(owner, sensor, name="silent", kind="no_data", period=1)
    sensor.send([1])
    time.sleep(1.5)
    ticks = [requests.post(services["rules"] + "/tick", timeout=30) for _ in range(3)]
    assert all(t.status_code == 200 for t in ticks)
    assert [a["state"] for a in _settled(owner, rule["id"], 1)] == ["fired"]
    sensor.send([2], start_ns=time.time_ns())
    assert [a["state"] for a in _settled(owner, rule["id"], 2)] == ["fired", "cleared"]
    requests.post(services["rules"] + "/tick", timeout=30)
    assert len(_alerts(owner, rule["id"])) == 2


def test_a_redelivered_message_fires_nothing_twice(owner, sensor, services, alerts_subscription):
    rule = _rule(owner, sensor, kind="threshold", operator="above", value=50)
    now = time.time_ns()
    data = {"device_id": sensor.device_id, "owner_id": rule["owner_id"], "received_at": format_timestamp(now),
            "gateway": "http", "records": [
                {"sensor_id": sensor.id, "type": "double", "timestamp": format_timestamp(now - 10**9), "value": 70.0}]}
    envelope = {"message": {"data": base64.b64encode(orjson.dumps(data)).decode(), "messageId": "redelivered-1",
                            "attributes": {"schema": MESSAGE_SCHEMA}}, "subscription": "telemetry-rules"}
    for _ in range(3):  # as Pub/Sub would redeliver an unacknowledged message
        assert requests.post(services["rules"] + "/pubsub/push", json=envelope, timeout=30).status_code == 204
    assert [a["state"] for a in _settled(owner, rule["id"], 1)] == ["fired"]
    subscriber, path = alerts_subscription
    events = _pull(subscriber, path, until=lambda got: any(e["rule_id"] == rule["id"] for e in got))
    time.sleep(1)
    events += _pull(subscriber, path, until=None)
    assert [e["state"] for e in events if e["rule_id"] == rule["id"]] == ["fired"]
    assert len(_alerts(owner, rule["id"])) == 1


def test_an_alert_reaches_the_alerts_topic_and_a_signed_webhook(owner, sensor, receiver, alerts_subscription):
    rule = _rule(owner, sensor, kind="threshold", operator="below", value=0, webhook_url=receiver.url)
    sensor.send([5, -3])
    headers, body = wait_for(lambda: receiver.requests and receiver.requests[0], what="a webhook call")
    assert verify_signature(rule["webhook_secret"], body, headers[SIGNATURE_HEADER])
    assert not verify_signature("another secret", body, headers[SIGNATURE_HEADER])
    event = orjson.loads(body)
    assert (event["rule_id"], event["state"], event["value"], event["sensor_id"]) == (rule["id"], "fired", -3,
                                                                                     sensor.id)
    [alert] = _settled(owner, rule["id"], 1)
    assert alert["delivery"]["status"] == "delivered" and len(alert["delivery"]["attempts"]) == 1
    subscriber, path = alerts_subscription
    events = _pull(subscriber, path, until=lambda got: any(e["id"] == event["id"] for e in got))
    assert [e for e in events if e["id"] == event["id"]] == [event]


def test_a_failing_webhook_is_retried_then_recorded_as_failed(owner, sensor, receiver):
    receiver.status = 500
    rule = _rule(owner, sensor, kind="threshold", operator="above", value=0, webhook_url=receiver.url)
    sensor.send([1])
    [alert] = _settled(owner, rule["id"], 1)
    assert alert["delivery"]["status"] == "failed"
    assert [a["status"] for a in alert["delivery"]["attempts"]] == [500, 500, 500]
    assert len(receiver.requests) == 3
    assert len({request[0][SIGNATURE_HEADER] for request in receiver.requests}) == 1  # the same signed body


def _pull(subscriber, path, until, timeout=30.0):
    """Events pulled (and acknowledged) from the alerts subscription until ``until(events)`` holds."""
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = subscriber.pull(subscription=path, max_messages=50, timeout=5)
        if reply.received_messages:
            subscriber.acknowledge(subscription=path, ack_ids=[m.ack_id for m in reply.received_messages])
            events += [orjson.loads(m.message.data) for m in reply.received_messages]
        if until is None:
            return events
        if until(events):
            return events
        time.sleep(0.2)
    raise AssertionError(f"alert events did not arrive within {timeout}s: {events}")
