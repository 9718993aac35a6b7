"""Device control through the real API process: the twin's desired state with versions (ETag, If-Match, 412), size
and shape limits, commands and their lifecycle, a nudge in the inbox of the instance holding the device's session
after each change (none for a device connected nowhere), device status and the online/offline filter, and another
tenant's device answering 404 everywhere."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from emulators.api_client import ApiError
from infra.adapters.firestore_control import FirestoreControl
from infra.adapters.firestore_inbox import NUDGES, inbox
from infra.domain.control import Sighting
from tests.support.names import unique

pytestmark = pytest.mark.e2e


@pytest.fixture
def nudges(control_db):
    """``connect(user, device_id)`` gives the device a session on an instance of its own (as a gateway would) and
    returns ``read()`` → the nudges left in that instance's inbox, oldest first: [(kind, device_id, body)]."""

    def connect(user, device_id: str):
        instance = unique("inst").replace("-", "")
        FirestoreControl(control_db).open_session(device_id, user.user["id"], f"{instance}/s1", "ws",
                                                  datetime.now(timezone.utc))

        def read() -> list[tuple[str, str, dict]]:
            found = sorted((s.to_dict() for s in inbox(control_db, instance).stream()), key=lambda d: d["purge_at"])
            return [(d["kind"], d["device_id"], orjson.loads(d["payload"])) for d in found]

        return read

    return connect


@pytest.fixture
def control_store(control_db):
    return FirestoreControl(control_db)


def _raises(call, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return caught.value


def test_the_desired_state_is_versioned_with_etags_and_conditional_updates(new_user, nudges):
    user = new_user()
    device = user.create_device("boiler")["id"]
    left = nudges(user, device)
    empty = user.request("GET", f"/api/devices/{device}/twin")
    assert empty.headers["ETag"] == '"0"'
    assert empty.json() == {"device_id": device, "desired": {}, "desired_version": 0, "desired_at": None,
                            "reported": {}, "reported_version": 0, "reported_at": None, "delta": {}}
    path = f"/api/devices/{device}/twin/desired"
    first = user.request("PUT", path, json={"rate": 5, "led": {"on": True, "color": None}}, headers={"If-Match": '"0"'})
    assert first.status_code == 200 and first.headers["ETag"] == '"1"'
    assert (first.json()["desired"], first.json()["delta"]) == ({"rate": 5, "led": {"on": True}},
                                                                {"rate": 5, "led": {"on": True}})
    stale = user.request("PUT", path, json={"rate": 6}, headers={"If-Match": '"0"'})
    assert (stale.status_code, stale.json()["error"]["code"]) == (412, "version_conflict")
    assert user.set_desired(device, {"rate": 6}, version=1)["desired_version"] == 2
    assert user.set_desired(device, {"rate": 7})["desired_version"] == 3  # unconditional
    assert user.twin(device)["desired"] == {"rate": 7}
    received = left()
    assert [(kind, device_id) for kind, device_id, _ in received] == [("config", device)] * 3
    assert [body["version"] for *_, body in received] == [1, 2, 3] and received[-1][2]["desired"] == {"rate": 7}


@pytest.mark.parametrize("body, headers, status, code", [
    ({"blob": "x" * 9000}, {}, 413, "too_large"),
    ([1, 2], {}, 400, "bad_request"),
    ({"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}, {}, 400, "bad_request"),
    ({"rate": 1}, {"If-Match": "yesterday"}, 400, "invalid_header"),
])
def test_bad_desired_updates_are_refused_and_change_nothing(new_user, body, headers, status, code):
    user = new_user()
    device = user.create_device("boiler")["id"]
    response = user.request("PUT", f"/api/devices/{device}/twin/desired", json=body, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert user.twin(device)["desired_version"] == 0


def test_a_command_is_queued_listed_and_read_back_and_the_gateways_are_nudged(new_user, nudges):
    user = new_user()
    device = user.create_device("boiler")["id"]
    left = nudges(user, device)
    response = user.request("POST", f"/api/devices/{device}/commands",
                            json={"name": "reboot", "payload": {"delay": 5}, "ttl": 120})
    assert response.status_code == 201
    command = response.json()
    assert response.headers["Location"] == f"/api/devices/{device}/commands/{command['id']}"
    assert (command["status"], command["payload"], command["result"], command["delivered_at"]) == (
        "queued", {"delay": 5}, None, None)
    created = datetime.fromisoformat(command["created_at"])
    assert datetime.fromisoformat(command["expires_at"]) - created == timedelta(seconds=120)
    second = user.send_command(device, "ping")
    assert [c["id"] for c in user.commands(device)] == [second["id"], command["id"]]
    assert [c["id"] for c in user.commands(device, "queued")] == [second["id"], command["id"]]
    assert user.commands(device, "succeeded") == [] and user.command(device, command["id"]) == command
    (kind, device_id, body), second_nudge = left()
    assert (kind, device_id, second_nudge[2]["command"]["id"]) == ("command", device, second["id"])
    assert body["command"] == {"id": command["id"], "name": "reboot", "payload": {"delay": 5},
                               "expires_at": command["expires_at"]}


def test_a_device_connected_nowhere_gets_no_nudge_written(new_user, control_db):
    """Its one session went stale an hour ago (its instance died): no inbox gets the nudge."""
    user = new_user()
    device = user.create_device("boiler")["id"]
    FirestoreControl(control_db).open_session(device, user.user["id"], "deadinstance/s1", "ws",
                                              datetime.now(timezone.utc) - timedelta(hours=1))
    user.send_command(device, "reboot")
    user.set_desired(device, {"rate": 5})
    assert [s.id for s in control_db.collection_group(NUDGES).stream()
            if s.get("device_id") == device] == []


@pytest.mark.parametrize("body, status, code", [
    ({"name": "Reboot"}, 400, "bad_request"), ({"name": "x", "ttl": 0}, 400, "bad_request"),
    ({"name": "x", "owner": "me"}, 400, "unknown_field"), ({"name": "x", "payload": "y" * 17000}, 413, "too_large"),
])
def test_bad_commands_are_refused_and_nothing_is_queued(new_user, body, status, code):
    user = new_user()
    device = user.create_device("boiler")["id"]
    _raises(lambda: user.call("POST", f"/api/devices/{device}/commands", json=body), status, code)
    assert user.commands(device) == []
    _raises(lambda: user.commands(device, "lost"), 400, "invalid_query")


def test_another_tenants_device_and_commands_are_404(new_user):
    owner, other = new_user(), new_user()
    device = owner.create_device("boiler")["id"]
    command = owner.send_command(device, "reboot")["id"]
    for call in (lambda: other.twin(device), lambda: other.set_desired(device, {"rate": 1}),
                 lambda: other.send_command(device, "reboot"), lambda: other.commands(device),
                 lambda: other.command(device, command), lambda: owner.command(device, "0" * 24)):
        _raises(call, 404, "not_found")
    assert owner.twin(device)["desired_version"] == 0 and len(owner.commands(device)) == 1


def test_devices_show_their_status_and_the_list_filters_online_and_offline(new_user, control_store):
    user = new_user()
    seen, connected, silent = (user.create_device(name)["id"] for name in ("seen", "connected", "silent"))
    now = datetime.now(timezone.utc)
    control_store.record_seen({seen: Sighting(user.user["id"], now - timedelta(seconds=30))})
    control_store.open_session(connected, user.user["id"], "i1/s1", "ws", now)
    shown = user.get_device(connected)["status"]
    assert (shown["online"], shown["connected"], shown["protocols"]) == (True, True, ["ws"])
    assert user.get_device(silent)["status"]["online"] is False
    assert {d["id"] for d in user.list_devices(status="online")} == {seen, connected}
    assert [d["id"] for d in user.list_devices(status="offline")] == [silent]
    _raises(lambda: user.list_devices(status="asleep"), 400, "invalid_query")


def test_deleting_a_device_deletes_its_twin_and_commands(new_user, control_store):
    user = new_user()
    device = user.create_device("boiler")["id"]
    user.set_desired(device, {"rate": 5})
    command = user.send_command(device, "reboot")["id"]
    user.delete_device(device)
    assert control_store.get_twin(device) is None and control_store.get_command(command) is None
