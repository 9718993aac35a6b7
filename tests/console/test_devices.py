"""Devices, sensors and device keys through the console, checked against the API and the HTTP gateway."""

import shlex
from datetime import datetime, timezone
import subprocess

import jwt
import pytest
import requests
from selenium.webdriver.common.by import By

from infra.adapters.firestore_rejections import FirestoreRejections

from infra.domain.rejections import Rejection
from tests.support.tools import command

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def user(browser, new_user):
    client = new_user()
    browser.sign_in(client.username, client.password)
    return client


def _create_device(browser, name, description=""):
    browser.go("/devices")
    browser.fill("#device-name", name)
    browser.fill("#device-description", description)
    browser.click("#device-create")
    return browser.wait_for_text("#device-list", name)


def _open_device(browser, user, name):
    device = next(d for d in user.list_devices() if d["name"] == name)
    browser.go(f"/devices/{device['id']}")
    browser.wait_for("#sensor-tree")
    browser.wait_for_text("h1", name)
    return device


def test_a_device_and_a_sensor_created_in_the_console_exist_in_the_api(browser, user):
    _create_device(browser, "boiler", "basement")
    [device] = user.list_devices()
    assert (device["name"], device["description"]) == ("boiler", "basement")
    browser.find("#device-list a.device-link").click()
    browser.wait_for_text("#sensor-tree", "No sensors yet")
    browser.fill("#sensor-name", "temperature")
    browser.select("#sensor-type", "double")
    browser.fill("#sensor-unit", "°C")
    browser.fill("#sensor-path", "Water / Outlet")
    browser.click("#sensor-create")
    browser.wait_for_text("#sensor-tree .sensor", "temperature")
    groups = [g.text for g in browser.find_all("#sensor-tree .group-name")]
    assert groups == ["Water", "Outlet"]
    [sensor] = user.list_sensors(device["id"])
    assert sensor["name"] == "temperature" and sensor["type"] == "double"
    assert sensor["mapping"] == {"type": "double", "unit": "°C"} and sensor["path"] == ["Water", "Outlet"]
    tree = user.device_tree(device["id"])
    assert tree["groups"][0]["groups"][0]["sensors"][0]["id"] == sensor["id"]


def test_an_invalid_sensor_shows_the_api_error(browser, user):
    device = user.create_device("pump")
    browser.go(f"/devices/{device['id']}")
    browser.fill("#sensor-name", "x" * 101)  # maxlength stops typing at 100, so send a name the API refuses
    browser.driver.execute_script("document.getElementById('sensor-name').removeAttribute('maxlength');"
                                  "document.getElementById('sensor-name').value = 'y'.repeat(101)")
    browser.click("#sensor-create")
    error = browser.wait_for("#sensor-form [role=alert]")
    assert "400" in error.text and "name" in error.text.lower()
    assert user.list_sensors(device["id"]) == []


def test_a_hostile_name_is_shown_as_text(browser, user):
    _create_device(browser, HOSTILE, HOSTILE)
    link = browser.wait_for("#device-list a.device-link")
    assert link.text == HOSTILE
    assert browser.find_all("main img") == [] and browser.no_alert()
    link.click()
    browser.wait_for_text("h1", HOSTILE)
    browser.fill("#sensor-name", HOSTILE)
    browser.click("#sensor-create")
    browser.wait_for_text("#sensor-tree .sensor", HOSTILE)
    assert browser.find("#device-description-text").text == HOSTILE
    assert browser.find_all("main img") == [] and browser.find_all("img[src='x']") == [] and browser.no_alert()
    assert user.list_devices()[0]["name"] == HOSTILE


def test_rename_and_delete_a_device_with_confirmation(browser, user):
    device = user.create_device("old name")
    keep = user.create_device("keep me")
    browser.go(f"/devices/{device['id']}")
    browser.fill("#device-edit-name", "new name")
    browser.fill("#device-edit-description", "moved")
    browser.click("#device-save")
    browser.wait_for_text("h1", "new name")
    assert user.get_device(device["id"])["name"] == "new name"
    assert user.get_device(device["id"])["description"] == "moved"
    browser.click("#device-delete")
    assert "new name" in browser.accept_confirm()
    browser.wait_for("#device-list")
    browser.wait(lambda _: [d["id"] for d in user.list_devices()] == [keep["id"]])
    browser.wait_for_text("#device-list", "keep me")
    assert "new name" not in browser.find("#device-list").text


def test_a_dismissed_confirmation_deletes_nothing(browser, user):
    device = user.create_device("precious")
    browser.go("/devices")
    browser.wait_for_text("#device-list", "precious")
    browser.click(f"#device-list tr[data-id='{device['id']}'] button")
    browser.wait(lambda d: d.switch_to.alert).dismiss()
    assert [d["id"] for d in user.list_devices()] == [device["id"]]


def test_the_device_key_shown_and_downloaded_is_accepted_by_the_gateway(browser, user, services):
    device = user.create_device("meter")
    sensor = user.create_sensor(device["id"], "power", {"type": "double"})
    browser.go(f"/devices/{device['id']}")
    browser.click("#device-key-show")
    shown = browser.wait(lambda _: browser.find("#device-key").get_attribute("value"))
    claims = jwt.decode(shown, options={"verify_signature": False})
    assert claims["sub"] == device["id"] and claims["aud"] == "device"
    browser.click("#device-key-download")
    downloaded = browser.downloaded(f"device-{device['id']}.key").read_text().strip()
    assert downloaded == shown
    reply = requests.post(services["gateway"], json={"sensor_id": sensor["id"], "value": 1.5}, timeout=30,
                          headers={"Authorization": f"Bearer {downloaded}"})
    assert reply.status_code == 200 and reply.json() == {"accepted": 1, "replaced": 0}


def test_the_curl_example_sends_a_reading_with_the_device_key(browser, user, services):
    curl = command("curl", "apt-get install curl")
    device = user.create_device("thermostat")
    sensor = user.create_sensor(device["id"], "setpoint", {"type": "double"})
    browser.go(f"/devices/{device['id']}")
    browser.wait_for_text("#curl-example", sensor["id"])
    browser.click("#device-key-show")
    example = browser.wait_for_text("#curl-example", "KEY='ey").text
    assert services["gateway"] in example
    script = example.replace("curl -s", f"{shlex.quote(curl)} -s -w ' %{{http_code}}'", 1)
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == '{"accepted":1,"replaced":0} 200', result.stderr


def test_rotating_the_key_revokes_the_old_one(browser, user, services):
    device = user.create_device("rotor")
    sensor = user.create_sensor(device["id"], "rpm", {"type": "long"})
    old = user.device_key(device["id"])
    browser.go(f"/devices/{device['id']}")
    browser.click("#device-key-rotate")
    browser.accept_confirm()
    browser.wait_for_text("#device-key-version", f"Key version {old['key_version'] + 1}")
    new = browser.find("#device-key").get_attribute("value")
    assert new != old["token"]

    def send(token):
        return requests.post(services["gateway"], json={"sensor_id": sensor["id"], "value": 3}, timeout=30,
                             headers={"Authorization": f"Bearer {token}"}).status_code

    assert send(new) == 200
    browser.wait(lambda _: send(old["token"]) == 403, timeout=70)  # the gateway's revocation cache expires


def test_deleting_a_sensor_asks_first(browser, user):
    device = user.create_device("hub")
    gone = user.create_sensor(device["id"], "gone", {"type": "boolean"})
    user.create_sensor(device["id"], "stays", {"type": "keyword"})
    browser.go(f"/devices/{device['id']}")
    browser.wait_for_text("#sensor-tree", "gone")
    browser.click(f"#sensor-tree li[data-id='{gone['id']}'] button")
    browser.accept_confirm()
    browser.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, f"#sensor-tree li[data-id='{gone['id']}']"))
    assert [s["name"] for s in user.list_sensors(device["id"])] == ["stays"]


def test_refused_telemetry_is_listed(browser, user, firestore_db):
    device = user.create_device("noisy")
    browser.go(f"/devices/{device['id']}")
    browser.wait_for_text("#rejections", "Nothing refused")
    FirestoreRejections(firestore_db).record([Rejection("value 'warm' is not a number", "m1", datetime.now(timezone.utc),
                                               owner_id=user.me()["id"], device_id=device["id"],
                                               sample=f'{{"value": "{HOSTILE}"}}')])
    browser.click("#rejections-refresh")
    row = browser.wait_for_text("#rejections tbody tr", "is not a number")
    assert HOSTILE in row.text and browser.find_all("main img") == []
