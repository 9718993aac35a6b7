"""The Flask-side auth helpers other APIs reuse (api-data): who may read a sensor, with which token."""

from __future__ import annotations

import pytest

from infra.web.auth import client_address, current_consumer, current_holder, sensor_for_reading, sensors_for_reading
from infra.wiring.clients import Clients
from infra.domain.claims import DEVICE
from infra.web.app import create_flask_app
from infra.wiring import wiring_of
from run.api_data import create_app as create_api_data

pytestmark = pytest.mark.e2e


class CountingRepository:
    """The real repository, recording the name of every method called (each is at least one Firestore call)."""

    def __init__(self, repository):
        self._repository = repository
        self.calls: list[str] = []

    def __getattr__(self, name):
        method = getattr(self._repository, name)

        def counted(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


@pytest.fixture
def probe(api):
    """A Flask app on the stack's Firestore exposing the helpers, as api-data would use them; its repository
    counts calls (``probe.repository.calls``)."""
    clients = Clients(api.settings)
    app = create_flask_app("probe", api.settings, clients)
    wiring = wiring_of(app)
    wiring.repository = CountingRepository(wiring.repository)

    @app.get("/sensors/<sensor_id>")
    def read(sensor_id):
        return {"sensor": sensor_for_reading(sensor_id).id}

    @app.get("/readable/<sensor_ids>")
    def read_many(sensor_ids):
        return {"sensors": [sensor.id for sensor in sensors_for_reading(sensor_ids.split(","))]}

    @app.get("/consumer")
    def consumer():
        return {"consumer": current_consumer(fresh=True).id}

    @app.get("/device")
    def device():
        return {"device": current_holder(DEVICE).id}

    @app.get("/address/<int:hops>")
    def address(hops):
        return {"address": client_address(hops)}

    client = app.test_client()
    client.repository = wiring.repository
    yield client
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


def test_several_sensors_are_authorized_in_one_batched_read(probe, admin, new_user):
    a, b = new_user(), new_user()
    device = a.create_device("d")
    granted, other = (a.create_sensor(device["id"], name, {"type": "double"})["id"] for name in ("g1", "g2"))
    foreign = b.create_sensor(b.create_device("d")["id"], "theirs", {"type": "long"})["id"]
    consumer = a.create_consumer("c")
    a.grant(consumer["id"], granted)
    consumer_token = a.consumer_key(consumer["id"])["token"]
    missing = "000000000000"

    def read(token, *ids):
        probe.repository.calls.clear()
        answer = _get(probe, f"/readable/{','.join(ids)}", token)
        assert probe.repository.calls.count("readable_sensors") == 1, probe.repository.calls
        assert not {"get_sensor", "has_grant"} & set(probe.repository.calls)
        return answer

    assert read(a.token, other, granted) == (200, {"sensors": [other, granted]})
    assert read(admin.token, granted, foreign) == (200, {"sensors": [granted, foreign]})
    assert read(a.token, granted, foreign) == (404, "not_found")
    assert read(a.token, granted, missing) == (404, "not_found")
    assert read(consumer_token, granted) == (200, {"sensors": [granted]})
    assert read(consumer_token, granted, other) == (403, "not_granted")
    assert read(consumer_token, missing, granted) == (403, "not_granted")
    a.revoke(consumer["id"], granted)
    assert read(consumer_token, granted) == (403, "not_granted")


def test_the_consumer_proxy_refuses_too_many_sensors_before_reading_anything(api, new_user):
    owner = new_user()
    consumer = owner.create_consumer("c")
    token = owner.consumer_key(consumer["id"])["token"]
    clients = Clients(api.settings)
    app = create_api_data(api.settings, clients)
    wiring = wiring_of(app)
    wiring.repository = repository = CountingRepository(wiring.repository)
    ids = ",".join(f"{n:012x}" for n in range(1001))
    try:
        reply = app.test_client().get(f"/api/consumers/consume/{ids}/_search",
                                      headers={"Authorization": f"Bearer {token}"})
    finally:
        clients.close()
    assert reply.status_code == 400 and reply.json["error"]["code"] == "invalid_query"
    assert "1000" in reply.json["error"]["reason"]
    assert repository.calls == []
