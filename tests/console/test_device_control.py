"""Device status, the twin and commands through the console, with a device talking to the real gateway-http."""

from __future__ import annotations

import json

import pytest
import requests

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def user(browser, new_user):
    client = new_user()
    browser.sign_in(client.username, client.password)
    return client


def as_device(user, services, device_id):
    """A requests session acting as the device on gateway-http."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {user.device_key(device_id)['token']}"
    gateway = services["gateway"].rstrip("/")
    return lambda method, path, **kwargs: session.request(method, gateway + path, timeout=30, **kwargs)


def test_the_device_list_shows_who_is_online_and_filters_by_it(browser, user, services):
    talking = user.create_device("talking")
    silent = user.create_device("silent")
    assert as_device(user, services, talking["id"])("GET", "/commands").status_code == 200
    browser.go("/devices")
    row = browser.wait_for_text(f"#device-list tr[data-id='{talking['id']}'] .status", "online")
    assert "last seen" in row.text
    assert "never seen" in browser.find(f"#device-list tr[data-id='{silent['id']}'] .status").text
    browser.select("#device-status-filter", "online")
    browser.wait(lambda _: [r.get_attribute("data-id") for r in browser.find_all("#device-list tbody tr")]
                 == [talking["id"]])
    browser.select("#device-status-filter", "offline")
    browser.wait(lambda _: [r.get_attribute("data-id") for r in browser.find_all("#device-list tbody tr")]
                 == [silent["id"]])


def test_the_desired_state_is_edited_and_the_reported_state_and_delta_shown(browser, user, services):
    device = user.create_device("thermostat")
    browser.go(f"/devices/{device['id']}")
    browser.wait_for_text("#desired-version", "version 0")
    assert "offline" in browser.find("#device-status").text
    browser.fill("#desired-editor", json.dumps({"setpoint": 21, "mode": "eco", "label": HOSTILE}))
    browser.click("#desired-save")
    browser.wait_for_text("#desired-version", "version 1")
    assert user.twin(device["id"])["desired"] == {"setpoint": 21, "mode": "eco", "label": HOSTILE}
    report = as_device(user, services, device["id"])("PUT", "/twin/reported", json={"setpoint": 19, "mode": "eco"})
    assert report.status_code == 200
    browser.click("#twin-refresh")
    browser.wait_for_text("#reported-version", "version 1")
    assert json.loads(browser.find("#twin-reported").text) == {"setpoint": 19, "mode": "eco"}
    assert json.loads(browser.find("#twin-delta").text) == {"setpoint": 21, "label": HOSTILE}
    assert browser.find_all("main img") == [] and browser.no_alert()


def test_a_desired_state_changed_meanwhile_is_not_overwritten(browser, user):
    device = user.create_device("thermostat")
    browser.go(f"/devices/{device['id']}")
    browser.wait_for_text("#desired-version", "version 0")
    user.set_desired(device["id"], {"setpoint": 18})  # someone else, after the page read version 0
    browser.fill("#desired-editor", '{"setpoint": 25}')
    browser.click("#desired-save")
    error = browser.wait_for("#desired-form [role=alert]")
    assert "version_conflict" in error.text and "412" in error.text
    assert user.twin(device["id"])["desired"] == {"setpoint": 18}
    browser.fill("#desired-editor", "{not json")
    browser.click("#desired-save")
    browser.wait_for_text("#desired-form [role=alert]", "Not JSON")
    assert user.twin(device["id"])["desired_version"] == 1


def test_a_command_sent_in_the_console_is_answered_by_the_device_and_shown_with_its_lifecycle(browser, user, services):
    device = user.create_device("pump")
    device_call = as_device(user, services, device["id"])
    browser.go(f"/devices/{device['id']}")
    browser.wait_for_text("#command-list", "No commands yet")
    browser.fill("#command-name", "flush")
    browser.fill("#command-payload", json.dumps({"seconds": 5, "note": HOSTILE}))
    browser.fill("#command-ttl", "600")
    browser.click("#command-send")
    browser.wait_for_text("#command-list .badge", "queued")
    [command] = user.commands(device["id"])
    assert (command["name"], command["payload"]) == ("flush", {"seconds": 5, "note": HOSTILE})
    [polled] = device_call("GET", "/commands").json()["items"]
    answer = device_call("POST", f"/commands/{polled['id']}/result",
                         json={"status": "succeeded", "result": {"flushed": True}})
    assert answer.status_code == 200
    browser.click("#commands-refresh")
    row = browser.wait_for_text(f"#command-list tr[data-id='{command['id']}']", "succeeded")
    assert '{"flushed":true}' in row.text and HOSTILE in row.text
    browser.select("#command-status-filter", "failed")
    browser.wait_for_text("#command-list", "No failed commands")
    assert browser.find_all("main img") == [] and browser.no_alert()


def test_a_command_with_a_payload_that_is_not_json_is_not_sent(browser, user):
    device = user.create_device("pump")
    browser.go(f"/devices/{device['id']}")
    browser.fill("#command-name", "flush")
    browser.fill("#command-payload", "{seconds: 5}")
    browser.click("#command-send")
    browser.wait_for_text("#command-form [role=alert]", "not JSON")
    browser.fill("#command-payload", "")
    browser.fill("#command-name", "Flush Now")  # the API refuses the name: its error is shown
    browser.click("#command-send")
    browser.wait_for_text("#command-form [role=alert]", "400")
    assert user.commands(device["id"]) == []
