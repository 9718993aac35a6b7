"""The rules API: who may manage a rule and read alerts, what a rule body may hold, the secret shown only once."""

import pytest

from tests.rules.conftest import wait_for

pytestmark = pytest.mark.e2e

THRESHOLD = {"name": "hot", "kind": "threshold", "operator": "above", "value": 30}


def test_a_rule_round_trip_and_its_secret_shown_only_on_creation_and_rotation(owner, sensor):
    created = owner.call("POST", "/api/rules", json={**THRESHOLD, "sensor_id": sensor.id, "sustained_for": 60})
    assert created["webhook_secret"] and created["sustained_for"] == 60 and created["device_id"] == sensor.device_id
    got = owner.call("GET", f"/api/rules/{created['id']}")
    assert "webhook_secret" not in got and got["value"] == 30
    listed = owner.call("GET", "/api/rules", params={"sensor_id": sensor.id})["items"]
    assert [rule["id"] for rule in listed] == [created["id"]] and "webhook_secret" not in listed[0]
    assert owner.call("PATCH", f"/api/rules/{created['id']}", json={"value": 40, "enabled": False})["value"] == 40
    rotated = owner.call("POST", f"/api/rules/{created['id']}/secret/rotate")
    assert rotated["webhook_secret"] != created["webhook_secret"]
    assert owner.request("DELETE", f"/api/rules/{created['id']}").status_code == 204
    assert owner.request("GET", f"/api/rules/{created['id']}").status_code == 404


@pytest.mark.parametrize("body, code", [
    ({**THRESHOLD, "operator": "over"}, "invalid_field"),
    ({**THRESHOLD, "period": 60}, "invalid_field"),
    ({**THRESHOLD, "webhook_url": "ftp://example.com/"}, "invalid_field"),
    ({**THRESHOLD, "owner_id": "x"}, "read_only_field"),
    ({"name": "r", "kind": "rate", "change": 1}, "invalid_field"),
])
def test_bad_rule_bodies_are_400_naming_the_field(owner, sensor, body, code):
    response = owner.request("POST", "/api/rules", json={**body, "sensor_id": sensor.id})
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_rules_watch_numeric_sensors_of_the_caller_only(owner, sensor, new_user):
    door = owner.create_sensor(sensor.device_id, "door", {"type": "boolean"})
    response = owner.request("POST", "/api/rules", json={**THRESHOLD, "sensor_id": door["id"]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "not_numeric"
    other = new_user()
    response = other.request("POST", "/api/rules", json={**THRESHOLD, "sensor_id": sensor.id})
    assert response.status_code == 404
    rule = owner.call("POST", "/api/rules", json={**THRESHOLD, "sensor_id": sensor.id})
    assert other.request("GET", f"/api/rules/{rule['id']}").status_code == 404
    assert other.request("DELETE", f"/api/rules/{rule['id']}").status_code == 404
    assert other.call("GET", "/api/rules")["items"] == []


def test_a_consumer_reads_the_alerts_of_granted_sensors_only(owner, sensor):
    rule = owner.call("POST", "/api/rules", json={**THRESHOLD, "sensor_id": sensor.id})
    sensor.send([50])
    wait_for(lambda: owner.call("GET", "/api/alerts", params={"rule_id": rule["id"]})["items"], what="an alert")
    consumer = owner.create_consumer("wall")
    key = owner.consumer_key(consumer["id"])["token"]
    path = f"/api/sensors/{sensor.id}/alerts"
    denied = owner.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "not_granted"
    owner.grant(consumer["id"], sensor.id)
    allowed = owner.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    assert allowed.status_code == 200
    assert [(a["rule_id"], a["state"]) for a in allowed.json()["items"]] == [(rule["id"], "fired")]
    assert owner.call("GET", path)["items"] == allowed.json()["items"]



def test_deleting_a_sensor_or_its_device_deletes_its_rules_and_alerts(owner, sensor):
    rule = owner.call("POST", "/api/rules", json={**THRESHOLD, "sensor_id": sensor.id})
    sensor.send([50])
    wait_for(lambda: owner.call("GET", "/api/alerts", params={"rule_id": rule["id"]})["items"], what="an alert")
    # 202: the sensor is gone, its readings are being erased (docs/data-lifecycle.md)
    assert owner.request("DELETE", f"/api/devices/{sensor.device_id}/sensors/{sensor.id}").status_code == 202
    assert owner.request("GET", f"/api/rules/{rule['id']}").status_code == 404
    assert owner.call("GET", "/api/alerts", params={"sensor_id": sensor.id})["items"] == []
    other = owner.create_sensor(sensor.device_id, "pressure", {"type": "double"})
    kept = owner.call("POST", "/api/rules", json={**THRESHOLD, "sensor_id": other["id"]})
    assert owner.request("DELETE", f"/api/devices/{sensor.device_id}").status_code == 202
    assert owner.request("GET", f"/api/rules/{kept['id']}").status_code == 404
