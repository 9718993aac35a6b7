"""Devices and sensors: shapes, strict input, immutable ownership, cascading deletes, the sensor tree."""

from __future__ import annotations

import pytest

from emulators.api_client import ApiError

pytestmark = pytest.mark.e2e


def _raises(call, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return caught.value


def test_create_answers_201_with_the_object_at_top_level(new_user):
    user = new_user()
    response = user.request("POST", "/api/devices/", json={"name": "boiler", "description": "basement"})
    assert response.status_code == 201
    device = response.json()
    assert response.headers["Location"] == f"/api/devices/{device['id']}"
    assert device["owner_id"] == user.user["id"] and device["key_version"] == 1
    assert set(device) == {"id", "owner_id", "name", "description", "key_version", "created_at", "updated_at",
                           "status"}
    assert device["status"] == {"online": False, "connected": False, "protocols": [], "connected_since": None,
                                "last_seen": None}
    sensor = user.request("POST", f"/api/devices/{device['id']}/sensors",
                          json={"name": "t", "mapping": '{"type": "float", "unit": "°C"}'})
    assert sensor.status_code == 201
    assert sensor.json()["mapping"] == {"type": "double", "unit": "°C"} and sensor.json()["type"] == "double"


def test_lists_are_items_with_a_cursor_and_pages_cover_everything_once(new_user):
    user = new_user()
    made = {user.create_device(f"d{i}")["id"] for i in range(5)}
    first = user.call("GET", "/api/devices", params={"limit": 2})
    assert set(first) == {"items", "next_cursor"} and len(first["items"]) == 2 and first["next_cursor"]
    seen = [d["id"] for d in user.iterate("/api/devices", page_size=2)]
    assert sorted(seen) == sorted(made)
    last = user.call("GET", "/api/devices", params={"limit": 5})
    assert last["next_cursor"] is None
    _raises(lambda: user.call("GET", "/api/devices", params={"limit": 0}), 400, "invalid_query")
    _raises(lambda: user.call("GET", "/api/devices", params={"cursor": "../x"}), 400, "invalid_query")


def test_users_see_only_their_devices_and_admins_see_all(admin, new_user):
    a, b = new_user(), new_user()
    mine = a.create_device("a's")
    theirs = b.create_device("b's")
    assert [d["id"] for d in a.list_devices()] == [mine["id"]]
    assert [d["id"] for d in a.list_devices(owner_id=b.user["id"])] == [mine["id"]]  # the filter is admin-only
    assert [d["id"] for d in admin.list_devices(owner_id=b.user["id"])] == [theirs["id"]]
    assert {mine["id"], theirs["id"]} <= {d["id"] for d in admin.list_devices()}


def test_admins_can_own_devices_too(admin):
    device = admin.create_device("root's own")
    assert device["owner_id"] == admin.me()["id"]
    sensor = admin.create_sensor(device["id"], "t", {"type": "long"})
    assert admin.device_key(device["id"])["device_id"] == device["id"]
    assert sensor["owner_id"] == device["owner_id"]


@pytest.mark.parametrize("body, field", [
    ({"owner_id": "abc123"}, "owner_id"),
    ({"id": "abc123"}, "id"),
    ({"key_version": 7}, "key_version"),
    ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
])
def test_device_patch_cannot_change_ownership_or_identity(new_user, body, field):
    user = new_user()
    device = user.create_device("mine")
    error = _raises(lambda: user.update_device(device["id"], **body), 400, "read_only_field")
    assert error.details == {"field": field} and field in error.message
    assert user.get_device(device["id"]) == device


@pytest.mark.parametrize("body, code", [
    ({"device_id": "abc123"}, "read_only_field"),
    ({"owner_id": "abc123"}, "read_only_field"),
    ({"mapping": {"type": "keyword"}}, "read_only_field"),
    ({"type": "keyword"}, "read_only_field"),
    ({"colour": "red"}, "unknown_field"),
])
def test_sensor_patch_cannot_move_retype_or_reown(new_user, body, code):
    user = new_user()
    device = user.create_device("mine")
    sensor = user.create_sensor(device["id"], "s", {"type": "double"})
    _raises(lambda: user.update_sensor(device["id"], sensor["id"], **body), 400, code)
    assert user.get_sensor(device["id"], sensor["id"]) == sensor


def test_patch_changes_only_what_may_change(new_user):
    user = new_user()
    device = user.create_device("old", "old text")
    patched = user.update_device(device["id"], name="new")
    assert (patched["name"], patched["description"]) == ("new", "old text")
    assert user.get_device(device["id"])["name"] == "new"
    sensor = user.create_sensor(device["id"], "s", {"type": "double"})
    moved = user.update_sensor(device["id"], sensor["id"], path=["Left", "Wheel"], description="tyre")
    assert moved["path"] == ["Left", "Wheel"] and moved["type"] == "double"


LONG = "x" * 101


@pytest.mark.parametrize("path, body, status, code", [
    ("/api/devices", {"name": "d", "colour": "red"}, 400, "unknown_field"),
    ("/api/devices", {"name": LONG}, 400, "invalid_field"),
    ("/api/devices", {"name": "   "}, 400, "invalid_field"),
    ("/api/devices", {"name": 42}, 400, "invalid_field"),
    ("/api/devices", {"name": "d", "description": "x" * 1001}, 400, "invalid_field"),
    ("/api/devices", {"description": "no name"}, 400, "missing_field"),
    ("/api/devices", {"name": "line\nbreak"}, 400, "invalid_field"),
    ("SENSORS", {"name": "s"}, 400, "missing_field"),
    ("SENSORS", {"name": "s", "mapping": "{not json"}, 400, "invalid_mapping"),
    ("SENSORS", {"name": "s", "mapping": 42}, 400, "invalid_mapping"),
    ("SENSORS", {"name": "s", "mapping": {}}, 400, "invalid_mapping"),
    ("SENSORS", {"name": "s", "mapping": {"type": "double", "index": False}}, 400, "invalid_mapping"),
    ("SENSORS", {"name": "s", "mapping": {"type": "date"}}, 400, "unknown_sensor_type"),
    ("SENSORS", {"name": "s", "mapping": '{"type": "geo_point"}'}, 400, "unknown_sensor_type"),
    ("SENSORS", {"name": "s", "mapping": {"type": "double"}, "path": "A/B"}, 400, "invalid_field"),
    ("SENSORS", {"name": "s", "mapping": {"type": "double"}, "path": ["x"] * 9}, 400, "invalid_field"),
    ("SENSORS", {"name": "s", "mapping": {"type": "double"}, "path": [LONG]}, 400, "invalid_field"),
    ("SENSORS", {"name": "s", "mapping": {"type": "double"}, "path": [""]}, 400, "invalid_field"),
    ("SENSORS", {"name": "s", "mapping": {"type": "double"}, "device_id": "x"}, 400, "read_only_field"),
])
def test_strict_input(new_user, path, body, status, code):
    user = new_user()
    if path == "SENSORS":
        path = f"/api/devices/{user.create_device('d')['id']}/sensors"
    response = user.request("POST", path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("data, content_type, status, code", [
    (b'{"name": "d"', "application/json", 400, "bad_request"),
    (b'["name", "d"]', "application/json", 400, "bad_request"),
    (b'"just a string"', None, 400, "bad_request"),
    (b'{"name": "d"}', "text/csv", 415, "unsupported_media_type"),
])
def test_malformed_bodies(new_user, data, content_type, status, code):
    user = new_user()
    headers = {"Content-Type": content_type} if content_type else {}
    response = user.request("POST", "/api/devices", data=data, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


@pytest.mark.parametrize("given, stored", [
    ("float", "double"), ("double", "double"), ("integer", "long"), ("long", "long"),
    ("string", "keyword"), ("text", "keyword"), ("keyword", "keyword"), ("boolean", "boolean"),
])
def test_type_aliases(new_user, given, stored):
    user = new_user()
    device = user.create_device("d")
    as_object = user.create_sensor(device["id"], "o", {"type": given})
    as_string = user.create_sensor(device["id"], "s", f'{{"type": "{given}"}}')
    assert as_object["type"] == as_string["type"] == stored
    assert as_object["mapping"] == as_string["mapping"] == {"type": stored}


def test_unknown_ids_routes_and_methods_are_json_errors(new_user):
    user = new_user()
    device = user.create_device("d")
    for path in ("/api/devices/000000000000", "/api/devices/NOT-AN-ID", "/api/devices/a%2Fb",
                 f"/api/devices/{device['id']}/sensors/000000000000"):
        response = user.request("GET", path)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found"), path
    wrong = user.request("PUT", f"/api/devices/{device['id']}", json={"name": "x"})
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert user.request("GET", f"/api/devices/{device['id']}/").status_code == 200


def test_a_sensor_is_only_found_under_its_own_device(new_user):
    user = new_user()
    first, second = user.create_device("1"), user.create_device("2")
    sensor = user.create_sensor(first["id"], "s", {"type": "double"})
    _raises(lambda: user.get_sensor(second["id"], sensor["id"]), 404, "not_found")
    _raises(lambda: user.delete_sensor(second["id"], sensor["id"]), 404, "not_found")
    assert user.get_sensor(first["id"], sensor["id"])["id"] == sensor["id"]


def test_deleting_a_device_deletes_its_sensors_and_their_grants(api, new_user):
    user = new_user()
    device = user.create_device("doomed")
    keep = user.create_device("kept")
    sensors = [user.create_sensor(device["id"], f"s{i}", {"type": "double"}) for i in range(3)]
    kept_sensor = user.create_sensor(keep["id"], "k", {"type": "double"})
    consumer = user.create_consumer("reader")
    for sensor in (*sensors, kept_sensor):
        user.grant(consumer["id"], sensor["id"])

    user.delete_device(device["id"])

    _raises(lambda: user.get_device(device["id"]), 404, "not_found")
    assert all(api.repository.get_sensor(s["id"]) is None for s in sensors)
    assert [s["id"] for s in user.granted_sensors(consumer["id"])] == [kept_sensor["id"]]
    assert api.repository.granted_sensor_ids(consumer["id"]) == [kept_sensor["id"]]
    assert api.repository.sensor_types(keep["id"]) == {kept_sensor["id"]: "double"}
    _raises(lambda: user.delete_device(device["id"]), 404, "not_found")


def test_deleting_a_sensor_deletes_its_grants(api, new_user):
    user = new_user()
    device = user.create_device("d")
    sensor = user.create_sensor(device["id"], "s", {"type": "boolean"})
    consumer = user.create_consumer("reader")
    user.grant(consumer["id"], sensor["id"])
    user.delete_sensor(device["id"], sensor["id"])
    assert user.granted_sensors(consumer["id"]) == []
    assert not api.repository.has_grant(consumer["id"], sensor["id"])


def test_the_tree_nests_sensors_under_the_groups_of_their_paths(new_user):
    user = new_user()
    device = user.create_device("car")
    left = user.create_sensor(device["id"], "pressure", {"type": "double"}, path=["Wheels", "Front", "Left"])
    right = user.create_sensor(device["id"], "pressure", {"type": "double"}, path=["Wheels", "Front", "Right"])
    rear = user.create_sensor(device["id"], "speed", {"type": "long"}, path=["Wheels"])
    top = user.create_sensor(device["id"], "odometer", {"type": "long"})

    tree = user.device_tree(device["id"])

    assert (tree["device_id"], tree["name"]) == (device["id"], "car")
    assert [s["id"] for s in tree["sensors"]] == [top["id"]]
    (wheels,) = tree["groups"]
    assert wheels["name"] == "Wheels" and [s["id"] for s in wheels["sensors"]] == [rear["id"]]
    (front,) = wheels["groups"]
    assert [g["name"] for g in front["groups"]] == ["Left", "Right"]
    assert [s["id"] for g in front["groups"] for s in g["sensors"]] == [left["id"], right["id"]]
    assert front["sensors"] == [] and all(g["groups"] == [] for g in front["groups"])
