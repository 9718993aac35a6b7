"""Desired state and commands pushed over WebSocket by two real gateway-ws instances: config on connect and on
change, a command delivered once and answered, a command to an offline device delivered when it connects, an expired
one never, and a device reaching only its own commands."""

from __future__ import annotations

import time

import orjson
import pytest
import websocket

from emulators.api_client import ApiClient
from emulators.process import wait_until

pytestmark = pytest.mark.e2e


class OrderedSocket:
    """A device's socket read strictly in order (pushed frames carry ``type``, acks ``ok``), so a test sees what came
    before an ack (emulators.control_clients.WsDevice sorts them instead)."""

    def __init__(self, url: str, key: str):
        self.ws = websocket.create_connection(url, timeout=15, header=[f"Authorization: Bearer {key}"])

    def next(self) -> dict:
        return orjson.loads(self.ws.recv())

    def send(self, frame: dict) -> dict:
        """Send a frame and return its ack (pushes read meanwhile would fail the test)."""
        self.ws.send(orjson.dumps(frame).decode())
        return self.next()

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def connect(device):
    sockets = []

    def open_socket(url: str, key: str | None = None) -> OrderedSocket:
        sockets.append(OrderedSocket(url, key or device.key))
        return sockets[-1]

    yield open_socket
    for socket in sockets:
        socket.close()


def test_the_desired_state_is_pushed_on_connect_and_on_change(owner, device, ws_gateways, connect):
    owner.set_desired(device.id, {"rate": 5})
    socket = connect(ws_gateways[0])
    assert socket.next() == {"type": "config", "version": 1, "desired": {"rate": 5}}
    owner.set_desired(device.id, {"rate": 6})
    assert socket.next() == {"type": "config", "version": 2, "desired": {"rate": 6}}
    assert socket.send({"type": "state", "state": {"rate": 6}}) == {"ok": True, "version": 1}
    assert owner.twin(device.id)["delta"] == {}


def test_a_command_reaches_the_instance_holding_the_socket_once_and_its_result_is_recorded(owner, device, ws_gateways,
                                                                                           connect, second_api):
    socket = connect(ws_gateways[1])  # the second instance; the API's nudge reaches both
    assert socket.send({"type": "state", "state": {"up": True}})["ok"] is True  # connected: nothing was pending
    # Sent through the second API instance: no instance knows where the device's socket lives.
    command = ApiClient(second_api, owner.token).send_command(device.id, "reboot", {"delay": 5})
    pushed = socket.next()
    assert {k: pushed[k] for k in ("type", "id", "name", "payload")} == {"type": "command", "id": command["id"],
                                                                         "name": "reboot", "payload": {"delay": 5}}
    assert socket.send({"type": "ack", "id": command["id"]}) == {"ok": True, "id": command["id"], "status": "delivered"}
    assert owner.command(device.id, command["id"])["status"] == "delivered"
    answer = {"type": "result", "id": command["id"], "status": "succeeded", "result": {"uptime": 1}}
    assert socket.send(answer) == {"ok": True, "id": command["id"], "status": "succeeded"}
    shown = owner.command(device.id, command["id"])
    assert (shown["status"], shown["result"]) == ("succeeded", {"uptime": 1})
    assert socket.send({"type": "state", "state": {"up": True}}) == {"ok": True, "version": 2}  # no second push


def test_a_command_to_an_offline_device_is_delivered_when_it_connects_and_an_expired_one_never(owner, device,
                                                                                               ws_gateways, connect):
    expired = owner.send_command(device.id, "old", ttl=1)
    time.sleep(1.2)
    waiting = owner.send_command(device.id, "blink", {"times": 2})
    socket = connect(ws_gateways[0])
    pushed = socket.next()
    assert (pushed["type"], pushed["id"]) == ("command", waiting["id"])
    assert socket.send({"type": "state", "state": {}})["ok"] is True  # the ack, so nothing else was pushed
    assert owner.command(device.id, expired["id"])["status"] == "expired"


def test_control_frames_are_checked_and_reach_only_the_devices_own_commands(owner, device, ws_gateways, connect):
    other = owner.create_device("other")["id"]
    theirs = owner.send_command(other, "reboot")
    socket = connect(ws_gateways[0])
    refused = socket.send({"type": "ack", "id": theirs["id"]})
    assert (refused["ok"], refused["status"], refused["error"]["code"]) == (False, 404, "not_found")
    unknown = socket.send({"type": "reboot"})
    assert (unknown["ok"], unknown["status"]) == (False, 400)
    assert socket.send({"type": "state", "state": [1]})["status"] == 400
    assert owner.command(other, theirs["id"])["status"] == "queued"


def test_the_socket_is_the_devices_session_while_it_is_open(owner, device, ws_gateways, connect):
    socket = connect(ws_gateways[1])
    assert socket.send({"type": "state", "state": {}})["ok"] is True  # served: the session was recorded before
    status = owner.get_device(device.id)["status"]
    assert (status["connected"], status["protocols"], status["online"]) == (True, ["ws"], True)
    socket.close()
    wait_until(lambda: owner.get_device(device.id)["status"]["connected"] is False, timeout=10,
               what="the session closed")
