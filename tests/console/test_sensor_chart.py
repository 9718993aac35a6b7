"""The sensor page charts real readings sent through gateway-http and indexed by the pipeline."""

import csv
import io
import time

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from emulators.process import wait_until

pytestmark = pytest.mark.e2e


def _send(gateway, key, records):
    reply = requests.post(gateway, json=records, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert reply.status_code == 200, reply.text


def _wait_indexed(client, sensor_id, count):
    wait_until(lambda: len(client.call("GET", f"/api/sensors/{sensor_id}/data")["points"]) >= count, timeout=60,
               what=f"{count} readings of {sensor_id} to be queryable")


@pytest.fixture
def owner(browser, new_user):
    client = new_user()
    browser.sign_in(client.username, client.password)
    return client


@pytest.fixture
def thermometer(owner, services):
    """A double sensor with three readings a minute apart in the last few minutes."""
    device = owner.create_device("boiler")
    sensor = owner.create_sensor(device["id"], "temperature", {"type": "double", "unit": "°C"})
    key = owner.device_key(device["id"])["token"]
    now = time.time()
    _send(services["gateway"], key, [{"sensor_id": sensor["id"], "timestamp": now - 180 + 60 * i, "value": v}
                                     for i, v in enumerate((10, 20.5, 30))])
    _wait_indexed(owner, sensor["id"], 3)
    return device, sensor, key


def _points(browser):
    return browser.find_all("#chart circle.point")


def test_the_chart_draws_one_point_per_reading_with_axes(browser, thermometer):
    device, sensor, _ = thermometer
    browser.go(f"/devices/{device['id']}/sensors/{sensor['id']}")
    browser.wait(lambda _: len(_points(browser)) == 3)
    assert sorted(float(p.get_attribute("data-value")) for p in _points(browser)) == [10, 20.5, 30]
    path = browser.find("#chart path.series").get_attribute("d")
    assert path.startswith("M") and path.count("L") == 2
    assert len(browser.find_all("#chart text.x-tick")) >= 3 and len(browser.find_all("#chart text.y-tick")) >= 3
    assert browser.find("#chart text.unit-label").text == "°C"
    assert "one per 10s (avg)" in browser.find("#chart-status").text  # 1 h in ≤ 500 buckets
    # higher values are drawn higher up
    by_value = {float(p.get_attribute("data-value")): float(p.get_attribute("cy")) for p in _points(browser)}
    assert by_value[30] < by_value[20.5] < by_value[10]
    ActionChains(browser.driver).move_to_element(_points(browser)[1]).perform()
    assert "20.5 °C" in browser.wait_for("#chart .tooltip").text
    # the keyboard reads the points too
    chart = browser.find("#chart svg")
    chart.send_keys(Keys.END)
    assert "30 °C" in browser.wait_for_text("#chart .tooltip", "30 °C").text
    chart.send_keys(Keys.HOME)
    assert "10 °C" in browser.wait_for_text("#chart .tooltip", "10 °C").text
    assert browser.severe_logs() == []  # no script error, no Content-Security-Policy violation


def test_other_ranges_and_aggregations_ask_for_other_buckets(browser, thermometer):
    device, sensor, _ = thermometer
    browser.go(f"/devices/{device['id']}/sensors/{sensor['id']}")
    browser.wait(lambda _: len(_points(browser)) == 3)
    browser.select("#range", "15m")
    browser.wait_for_text("#chart-status", "one per 2s")
    assert len(_points(browser)) == 3
    browser.select("#range", "7d")
    browser.wait_for_text("#chart-status", "one per 30m")
    browser.select("#agg", "count")
    browser.wait_for_text("#chart-status", "(count)")
    total = sum(float(p.get_attribute("data-value")) for p in _points(browser))
    assert total == 3


def test_auto_refresh_draws_new_readings(browser, thermometer, services):
    device, sensor, key = thermometer
    browser.go(f"/devices/{device['id']}/sensors/{sensor['id']}")
    browser.wait(lambda _: len(_points(browser)) == 3)
    browser.click("#auto-refresh")
    _send(services["gateway"], key, {"sensor_id": sensor["id"], "timestamp": time.time() - 20, "value": 40})
    browser.wait(lambda _: len(_points(browser)) == 4, timeout=60)
    assert max(float(p.get_attribute("data-value")) for p in _points(browser)) == 40


def test_the_csv_download_holds_the_readings(browser, thermometer):
    device, sensor, _ = thermometer
    browser.go(f"/devices/{device['id']}/sensors/{sensor['id']}")
    browser.wait(lambda _: len(_points(browser)) == 3)
    browser.click("#csv-download")
    lines = browser.downloaded(f"sensor-{sensor['id']}.csv").read_text().strip().splitlines()
    assert lines[0] == "timestamp,value"
    assert [float(line.split(",")[1]) for line in lines[1:]] == [10, 20.5, 30]


def test_a_boolean_sensor_gets_a_step_chart_and_a_keyword_sensor_a_table(browser, owner, services):
    device = owner.create_device("door")
    door = owner.create_sensor(device["id"], "open", {"type": "boolean"})
    label = owner.create_sensor(device["id"], "state", {"type": "keyword"})
    key = owner.device_key(device["id"])["token"]
    now = time.time()
    _send(services["gateway"], key, [{"sensor_id": door["id"], "timestamp": now - 90 + 30 * i, "value": v}
                                     for i, v in enumerate((True, False, True))] +
          [{"sensor_id": label["id"], "timestamp": now - 10, "value": "<b>locked</b>"}])
    _wait_indexed(owner, door["id"], 3)
    _wait_indexed(owner, label["id"], 1)
    browser.go(f"/devices/{device['id']}/sensors/{door['id']}")
    browser.wait(lambda _: len(_points(browser)) == 3)
    assert [p.get_attribute("data-value") for p in _points(browser)] == ["true", "false", "true"]
    assert "H" in browser.find("#chart path.series.step").get_attribute("d")
    assert [t.text for t in browser.find_all("#chart text.y-tick")] == ["false", "true"]
    browser.go(f"/devices/{device['id']}/sensors/{label['id']}")
    cell = browser.wait_for("#latest-values tbody tr td:nth-child(2)")
    assert cell.text == "<b>locked</b>" and browser.find_all("#latest-values b") == []


def test_the_csv_download_keeps_keyword_text_from_running_as_a_formula(browser, owner, services):
    device = owner.create_device("door")
    label = owner.create_sensor(device["id"], "state", {"type": "keyword"})
    key = owner.device_key(device["id"])["token"]
    now = time.time()
    values = ["=cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "closed"]
    _send(services["gateway"], key, [{"sensor_id": label["id"], "timestamp": now - 60 + i, "value": v}
                                     for i, v in enumerate(values)])
    _wait_indexed(owner, label["id"], len(values))
    browser.go(f"/devices/{device['id']}/sensors/{label['id']}")
    browser.wait_for("#latest-values")
    browser.click("#csv-download")
    text = browser.downloaded(f"sensor-{label['id']}.csv").read_text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["timestamp", "value"]
    assert [value for _, value in rows[1:]] == ["'=cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1)", "closed"]


def test_a_sensor_without_readings_says_so(browser, owner):
    device = owner.create_device("quiet")
    sensor = owner.create_sensor(device["id"], "silence", {"type": "long"})
    browser.go(f"/devices/{device['id']}/sensors/{sensor['id']}")
    browser.wait_for_text("#chart", "No readings in this range")
    assert "null" not in browser.find("main").text and "undefined" not in browser.find("main").text


def test_the_device_page_exports_every_reading_with_its_size_first(browser, thermometer):
    device, sensor, _ = thermometer
    browser.go(f"/devices/{device['id']}")
    browser.wait_for("#export-panel")
    browser.select("#export-range", "1")
    browser.click("#export-download")
    rows = list(csv.reader(io.StringIO(browser.downloaded(f"device-{device['id']}.csv").read_text())))
    assert rows[0] == ["timestamp", "sensor_id", "sensor", "type", "value"]
    assert [(row[1], row[2], float(row[4])) for row in rows[1:]] == [(sensor["id"], "temperature", v)
                                                                      for v in (10, 20.5, 30)]
    browser.wait_for_text("#export-status", "Exported 3 readings")
