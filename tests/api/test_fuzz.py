"""Arbitrary JSON bodies never crash the API: every reply is a success or a 4xx in the JSON error shape."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytestmark = pytest.mark.e2e

KEYS = st.sampled_from(["name", "description", "mapping", "path", "sensor_id", "owner_id", "id", "type",
                        "username", "password", "role", "key_version", "unit", ""]) | st.text(max_size=12)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=120) | st.sampled_from(["double", "float", "keyword", '{"type": "long"}', "x" * 1001])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=10) | st.dictionaries(KEYS, inner, max_size=4),
                      max_leaves=12)
BODIES = st.dictionaries(KEYS, VALUES, max_size=5) | VALUES


@pytest.fixture
def targets(api, new_user):
    """A user with a device, sensor and consumer to aim bodies at (hypothesis reuses them for every example)."""
    user = new_user()
    device = user.create_device("fuzz")
    sensor = user.create_sensor(device["id"], "s", {"type": "double"})
    consumer = user.create_consumer("fuzz")
    return api, user, {
        ("POST", "/api/devices"), ("PATCH", f"/api/devices/{device['id']}"),
        ("POST", f"/api/devices/{device['id']}/sensors"),
        ("PATCH", f"/api/devices/{device['id']}/sensors/{sensor['id']}"),
        ("POST", "/api/consumers"), ("PATCH", f"/api/consumers/{consumer['id']}"),
        ("POST", f"/api/consumers/{consumer['id']}/sensors"), ("PATCH", "/api/users/self"),
        ("POST", "/api/users"), ("POST", "/api/users/signin"),
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, pick=st.integers(min_value=0))
def test_any_body_gets_a_success_or_a_json_4xx(targets, body, pick):
    api, user, routes = targets
    method, path = sorted(routes)[pick % len(routes)]
    response = user.request(method, path, data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (method, path, body, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
    else:
        assert isinstance(response.json(), dict)
