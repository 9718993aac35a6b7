"""The Flask-side auth helpers other APIs reuse (api-data): who may read a sensor, with which token."""

from __future__ import annotations

import pytest

from infra.auth import client_address, current_consumer, current_holder, sensor_for_reading
from infra.clients import Clients
from infra.tokens import DEVICE
from infra.web import create_flask_app

pytestmark = pytest.mark.e2e


@pytest.fixture
def probe(api):
    """A Flask app on the stack's Firestore exposing the helpers, as api-data would use them."""
    clients = Clients(api.settings)
    app = create_flask_app("probe", api.settings, clients)

    @app.get("/sensors/<sensor_id>")
    def read(sensor_id):
        return {"sensor": sensor_for_reading(sensor_id).id}

    @app.get("/consumer")
    def consumer():
        return {"consumer": current_consumer(fresh=True).id}

    @app.get("/device")
    def device():
        return {"device": current_holder(DEVICE).id}

    @app.get("/address/<int:hops>")
    def address(hops):
        return {"address": client_address(hops)}

    yield app.test_client()
    clients.close()


def _get(client, path, token=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = client.get(path, headers=headers)
    return response.status_code, (response.json.get("error", {}).get("code") if response.status_code >= 400
                                  else response.json)


def test_owner_admin_and_granted_consumer_may_read_a_sensor_and_nobody_else(probe, admin, new_user):
    a, b = new_user(), new_user()
    device = a.create_device("d")
    sensor = a.create_sensor(device["id"], "granted", {"type": "double"})
    other_sensor = a.create_sensor(device["id"], "not granted", {"type": "double"})
    consumer = a.create_consumer("c")
    a.grant(consumer["id"], sensor["id"])
    consumer_token = a.consumer_key(consumer["id"])["token"]
    device_token = a.device_key(device["id"])["token"]
    path = f"/sensors/{sensor['id']}"

    assert _get(probe, path, a.token) == (200, {"sensor": sensor["id"]})
    assert _get(probe, path, admin.token) == (200, {"sensor": sensor["id"]})
    assert _get(probe, path, consumer_token) == (200, {"sensor": sensor["id"]})
    assert _get(probe, path, b.token) == (404, "not_found")
    assert _get(probe, f"/sensors/{other_sensor['id']}", consumer_token) == (403, "not_granted")
    assert _get(probe, "/sensors/000000000000", consumer_token) == (403, "not_granted")
    assert _get(probe, path, device_token) == (401, "invalid_token")
    assert _get(probe, path) == (401, "unauthorized")
    assert _get(probe, path, "garbage") == (401, "invalid_token")

    a.rotate_consumer_key(consumer["id"])
    assert _get(probe, "/consumer", consumer_token) == (401, "invalid_token")
    assert _get(probe, "/device", device_token) == (200, {"device": device["id"]})
    assert _get(probe, "/device", consumer_token) == (401, "invalid_token")


def test_client_address_trusts_only_the_configured_hops(probe):
    forwarded = {"X-Forwarded-For": "6.6.6.6, 10.0.0.9, 192.168.1.1"}
    assert _get(probe, "/address/0", **forwarded)[1] == {"address": "127.0.0.1"}
    assert _get(probe, "/address/1", **forwarded)[1] == {"address": "192.168.1.1"}
    assert _get(probe, "/address/2", **forwarded)[1] == {"address": "10.0.0.9"}
    assert _get(probe, "/address/1")[1] == {"address": "127.0.0.1"}
