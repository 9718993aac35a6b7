"""An HTTP device and its owner through the real API and gateway-http: the desired state read with ETags and a long
poll, the reported state and the delta, commands polled, answered and seen through their lifecycle by the owner,
expiry of a command nobody fetched, the device's status, and refusals."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.e2e


def test_the_device_reads_its_desired_state_with_etags(owner, device):
    first = device.request("GET", "/twin/desired")
    assert (first.status_code, first.json(), first.headers["ETag"]) == (200, {"version": 0, "desired": {}}, '"0"')
    owner.set_desired(device.id, {"rate": 5})
    changed = device.request("GET", "/twin/desired", headers={"If-None-Match": '"0"'})
    assert (changed.status_code, changed.json(), changed.headers["ETag"]) == (200, {"version": 1, "desired": {"rate": 5}},
                                                                               '"1"')
    unchanged = device.request("GET", "/twin/desired", headers={"If-None-Match": '"1"'}, params={"wait": "1"})
    assert (unchanged.status_code, unchanged.content, unchanged.headers["ETag"]) == (304, b"", '"1"')


def test_a_long_poll_returns_the_new_desired_state_when_the_owner_sets_it(owner, device):
    owner.set_desired(device.id, {"rate": 5})
    answers = []
    poll = threading.Thread(target=lambda: answers.append(
        device.request("GET", "/twin/desired", headers={"If-None-Match": '"1"'}, params={"wait": "25"})))
    poll.start()
    time.sleep(1)  # let the poll begin waiting: were it answered before the change, it would be a 304
    owner.set_desired(device.id, {"rate": 6})
    poll.join(40)
    [answer] = answers
    assert (answer.status_code, answer.json()) == (200, {"version": 2, "desired": {"rate": 6}})


def test_reported_state_merges_and_the_owner_sees_it_with_the_delta(owner, device):
    owner.set_desired(device.id, {"rate": 5, "led": "red"})
    assert device.request("PUT", "/twin/reported", json={"rate": 5, "led": "blue", "fw": "1.0"}).json() == {
        "version": 1, "reported": {"rate": 5, "led": "blue", "fw": "1.0"}}
    assert device.request("PUT", "/twin/reported", json={"fw": None}).json()["version"] == 2
    twin = owner.twin(device.id)
    assert (twin["reported"], twin["reported_version"], twin["delta"]) == ({"rate": 5, "led": "blue"}, 2,
                                                                           {"led": "red"})


def test_a_command_goes_from_queued_to_delivered_to_succeeded(owner, device):
    first = owner.send_command(device.id, "reboot", {"delay": 5})
    second = owner.send_command(device.id, "ping")
    polled = device.request("GET", "/commands").json()["items"]
    assert [(c["id"], c["name"], c["payload"]) for c in polled] == [(first["id"], "reboot", {"delay": 5}),
                                                                    (second["id"], "ping", None)]
    assert {c["status"] for c in owner.commands(device.id)} == {"delivered"}
    body = {"status": "succeeded", "result": {"uptime": 12}}
    answered = device.request("POST", f"/commands/{first['id']}/result", json=body)
    assert answered.json() == {"id": first["id"], "status": "succeeded"}
    assert device.request("POST", f"/commands/{first['id']}/result", json=body).status_code == 200  # a retry
    late = device.request("POST", f"/commands/{first['id']}/result", json={"status": "failed", "error": "x"})
    assert (late.status_code, late.json()["error"]["code"]) == (409, "command_closed")
    shown = owner.command(device.id, first["id"])
    assert (shown["status"], shown["result"], shown["error"]) == ("succeeded", {"uptime": 12}, None)
    assert [c["id"] for c in device.request("GET", "/commands").json()["items"]] == [second["id"]]


def test_a_command_nobody_fetched_expires(owner, device):
    command = owner.send_command(device.id, "ping", ttl=1)
    time.sleep(1.5)
    assert device.request("GET", "/commands").json() == {"items": []}
    assert owner.command(device.id, command["id"])["status"] == "expired"
    assert [c["id"] for c in owner.commands(device.id, "expired")] == [command["id"]]


def test_a_device_reaches_only_its_own_commands(owner, device):
    other = owner.create_device("other")["id"]
    theirs = owner.send_command(other, "reboot")
    response = device.request("POST", f"/commands/{theirs['id']}/result", json={"status": "succeeded"})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert owner.command(other, theirs["id"])["status"] == "queued"


def test_a_device_that_talks_is_online_with_its_last_seen(owner, device):
    assert owner.get_device(device.id)["status"]["online"] is False
    assert device.request("GET", "/commands").status_code == 200
    status = owner.get_device(device.id)["status"]
    assert status["online"] is True and status["last_seen"] is not None and status["connected"] is False
    assert device.id in {d["id"] for d in owner.list_devices(status="online")}
    assert device.id not in {d["id"] for d in owner.list_devices(status="offline")}


@pytest.mark.parametrize("method, path, kwargs, status, code", [
    ("GET", "/twin/desired", {"params": {"wait": "31"}}, 400, "invalid_query"),
    ("GET", "/twin/desired", {"params": {"wait": "soon"}}, 400, "invalid_query"),
    ("GET", "/twin/desired", {"headers": {"If-None-Match": "v1"}}, 400, "invalid_header"),
    ("PUT", "/twin/reported", {"json": [1, 2]}, 400, "bad_request"),
    ("PUT", "/twin/reported", {"json": {"blob": "x" * 9000}}, 413, "too_large"),
    ("PUT", "/twin/reported", {"data": "rate=5", "headers": {"Content-Type": "text/csv"}}, 415,
     "unsupported_media_type"),
    ("POST", "/commands/nope/result", {"json": {"status": "succeeded"}}, 404, "not_found"),
])
def test_bad_device_requests_are_refused(device, method, path, kwargs, status, code):
    response = device.request(method, path, **kwargs)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


@pytest.mark.parametrize("path", ["/twin/desired", "/commands"])
def test_only_a_current_device_token_is_accepted(owner, device, path):
    assert device.session.get(device.gateway + path, timeout=10).status_code == 401
    assert device.request("GET", path, token=owner.token).status_code == 403  # a user token
    owner.rotate_device_key(device.id)
    fresh = owner.device_key(device.id)["token"]  # a newer key works at once (the old one stops within the cache TTL)
    assert device.request("GET", path, token=fresh).status_code == 200
