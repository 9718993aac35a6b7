"""The sensor page's forecast (a dashed continuation of the chart) and its rules panel: a rule made in the form
raises an alert that the panel lists, through gateway-http and the rules service."""

import time

import pytest

from tests.console.test_sensor_chart import _send, _wait_indexed

# The rules service runs from the module's start: the emulator slows its pushes to a subscription whose endpoint
# kept refusing, which would delay the alert the panel waits for.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("rules_service")]


@pytest.fixture(scope="module")
def rules_service(stack, services):
    """The rules service on the port telemetry-rules pushes to (unless another module runs it)."""
    started = "rules" not in stack.processes
    if started:
        stack.start_service("rules")
    yield
    if started:
        stack.stop_service("rules")


@pytest.fixture
def owner(browser, new_user):
    client = new_user()
    browser.sign_in(client.username, client.password)
    return client


@pytest.fixture
def rising(owner, services):
    """A double sensor with a steady rise over the last five minutes, 10 s apart."""
    device = owner.create_device("tank")
    sensor = owner.create_sensor(device["id"], "level", {"type": "double"})
    key = owner.device_key(device["id"])["token"]
    now = time.time()
    _send(services["gateway"], key, [{"sensor_id": sensor["id"], "timestamp": now - 300 + 10 * i, "value": i}
                                     for i in range(30)])
    _wait_indexed(owner, sensor["id"], 30)
    return device, sensor, key


def test_the_forecast_is_drawn_dashed_after_the_readings(browser, rising):
    device, sensor, _ = rising
    browser.go(f"/devices/{device['id']}/sensors/{sensor['id']}")
    browser.wait(lambda _: len(browser.find_all("#chart circle.point")) == 30)
    assert browser.find_all("#chart path.forecast") == []
    browser.click("#show-forecast")
    dashed = browser.wait_for("#chart path.series.forecast")
    assert int(dashed.get_attribute("data-points")) > 0
    assert "forecast: linear" in browser.wait_for_text("#chart-status", "forecast").text
    assert browser.severe_logs() == []


def test_a_rule_made_in_the_panel_raises_an_alert_the_panel_lists(browser, owner, services):
    # A sensor no reading reached yet: the rules service has not cached it as one without rules.
    device = owner.create_device("tank")
    sensor = owner.create_sensor(device["id"], "level", {"type": "double"})
    key = owner.device_key(device["id"])["token"]
    browser.severe_logs()  # drop what signing the previous test's user out logged
    browser.go(f"/devices/{device['id']}/sensors/{sensor['id']}")
    browser.wait_for_text("#rule-list", "No rules")
    browser.fill("#rule-name", "overflow")
    browser.select("#rule-kind", "threshold")
    browser.fill("#rule-value", "100")
    browser.click("#rule-create")
    row = browser.wait_for_text("#rule-list", "overflow")
    assert "above 100" in row.text
    _send(services["gateway"], key, [{"sensor_id": sensor["id"], "value": 150}])

    def listed(_):
        browser.click("#rules-refresh")
        return "fired" in browser.find("#alert-list").text

    browser.wait(listed, timeout=30)
    assert "overflow" in browser.find("#alert-list").text
    assert browser.severe_logs() == []
