"""Forecasts through the real data API: a synthetic linear and a synthetic seasonal series sent through
gateway-http and the pipeline come back continued within a stated error, with the method and the fit error."""

import math

import pytest
import requests

from tests.data.test_reading import _wait_for

pytestmark = pytest.mark.e2e

BASE = 1_764_300_000  # 2025-11-28T03:20:00Z, on a minute
MINUTE = 60


def _send(services, owner, values):
    device = owner.create_device("forecast", "")
    sensor = owner.create_sensor(device["id"], "level", {"type": "double"})
    key = owner.device_key(device["id"])["token"]
    body = [{"sensor_id": sensor["id"], "timestamp": BASE + i * MINUTE, "value": v} for i, v in enumerate(values)]
    sent = requests.post(services["gateway"] + "/", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert sent.status_code == 200, sent.text
    _wait_for(owner, sensor["id"], len(values))
    return sensor["id"]


def _forecast(owner, sensor_id, count, **params):
    end = BASE + count * MINUTE
    return owner.call("GET", f"/api/sensors/{sensor_id}/forecast",
                      params={"interval": "1m", "history": f"{count}m", "to": str(end), **params})


def test_linear_series_is_continued_within_one_percent(services, new_user):
    owner = new_user()
    sensor_id = _send(services, owner, [10 + 0.5 * i for i in range(60)])
    reply = _forecast(owner, sensor_id, 60, horizon="10m", method="auto")
    assert reply["method"] == "linear" and reply["fit_error"]["rmse"] < 0.01
    assert reply["points"][0]["timestamp"] == "2025-11-28T04:20:00.000000000Z"
    assert len(reply["points"]) == 10
    for i, point in enumerate(reply["points"]):
        expected = 10 + 0.5 * (60 + i)
        assert abs(point["value"] - expected) / expected < 0.01


def test_seasonal_series_uses_holt_winters_within_a_fifth_of_its_amplitude(services, new_user):
    owner = new_user()
    period = 12
    def truth(i):
        return 50 + 10 * math.sin(2 * math.pi * i / period)
    sensor_id = _send(services, owner, [truth(i) for i in range(period * 6)])
    reply = _forecast(owner, sensor_id, period * 6, horizon="12m")
    assert reply["method"] == "holt_winters" and reply["period"] == "12m"
    errors = [abs(p["value"] - truth(period * 6 + i)) for i, p in enumerate(reply["points"])]
    assert max(errors) < 2.0, errors


def test_bad_forecast_requests(services, new_user):
    owner = new_user()
    device = owner.create_device("d", "")
    text = owner.create_sensor(device["id"], "label", {"type": "keyword"})
    response = owner.request("GET", f"/api/sensors/{text['id']}/forecast", params={"horizon": "1h"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "not_numeric"
    response = owner.request("GET", f"/api/sensors/{text['id']}/forecast")
    assert response.status_code == 400 and "horizon" in response.json()["error"]["message"]
    empty = owner.create_sensor(device["id"], "empty", {"type": "double"})
    response = owner.request("GET", f"/api/sensors/{empty['id']}/forecast", params={"horizon": "1h"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "cannot_forecast"
    other = new_user()
    assert other.request("GET", f"/api/sensors/{empty['id']}/forecast", params={"horizon": "1h"}).status_code == 404
