"""The simulator's devices (``emulators.devices`` senders with control) apply desired states and answer commands on
each protocol, so the console shows the whole loop."""

from __future__ import annotations

import pytest

from emulators import devices
from emulators.process import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def writing_http_gateway(stack):
    """gateway-http writing twins and commands."""
    stack.start_service("gateway-http", key="ctl-http-writing")
    yield stack.url("ctl-http-writing")
    stack.stop_service("ctl-http-writing")


@pytest.fixture(params=["http", "ws", "mqtt", "mqtt-ws"])
def simulated(request, device, writing_http_gateway, ws_gateways, mqtt_gateways):
    """(protocol, the simulator's sender for ``device`` over it)."""
    url = {"http": writing_http_gateway, "ws": ws_gateways[0], "mqtt": "mqtt://{}:{}".format(*mqtt_gateways[0]),
           "mqtt-ws": mqtt_gateways.websocket_urls[1]}[request.param]
    make_sender = getattr(devices, f"{request.param.split('-')[0]}_sender")
    sender = make_sender(url, devices.SimDevice(device.id, device.key, {}), True)
    yield request.param, sender
    getattr(sender, "close", lambda: None)()


def test_a_simulated_device_applies_its_desired_state_and_answers_commands(owner, device, simulated):
    protocol, send = simulated
    owner.set_desired(device.id, {"rate": 7})
    done = owner.send_command(device.id, "blink", {"times": 2})
    failing = owner.send_command(device.id, "fail")
    if protocol == "http":  # an HTTP device polls as it sends readings
        send(b"[]")
    wait_until(lambda: owner.twin(device.id)["reported"].get("applied_version") == 1, timeout=15,
               what="the desired state applied and reported")
    assert owner.twin(device.id)["delta"] == {}
    wait_until(lambda: owner.command(device.id, failing["id"])["status"] == "failed", timeout=15, what="fail failed")
    # The two results may be stored in either order (gateway-mqtt runs a connection's publishes concurrently).
    wait_until(lambda: owner.command(device.id, done["id"])["status"] in ("succeeded", "failed"), timeout=15,
               what="blink answered")
    shown = owner.command(device.id, done["id"])
    assert (shown["status"], shown["result"]["done"], shown["result"]["payload"]) == ("succeeded", "blink",
                                                                                      {"times": 2})
