"""What a simulated device does with device control, on the protocol it uses: it applies every desired state it gets
(and reports it back, so the owner sees no delta) and answers every command (``fail`` fails, anything else
succeeds with what it was asked), so the whole loop can be watched from the console.

    python -m emulators.devices --protocol mqtt --devices 2 --rate 0.2 --duration 600

Over WebSocket and MQTT the gateway pushes; over HTTP the device polls (``/commands``, and ``/twin/desired`` with
its ETag) at most every ``HTTP_POLL_INTERVAL`` seconds, as it sends readings.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import requests

from emulators.control_clients import Received, WsDevice

logger = logging.getLogger(__name__)

HTTP_POLL_INTERVAL = 2.0


def applied(version: int, desired: dict) -> dict:
    """The state a device reports once it applied a desired state: that state, and its version."""
    return {**desired, "applied_version": version}


def outcome(command: dict) -> dict[str, Any]:
    """The answer to a command: ``fail`` fails; anything else succeeds, echoing its name and payload."""
    if command.get("name") == "fail":
        return {"status": "failed", "error": "asked to fail"}
    return {"status": "succeeded", "result": {"done": command.get("name"), "payload": command.get("payload"),
                                              "at": time.time()}}


def respond_over_ws(device: WsDevice) -> threading.Thread:
    """Handle the frames the gateway pushes on ``device`` until its socket closes (a daemon thread)."""

    def handle(message: Received) -> None:
        frame = message.body
        if message.topic == "config":
            device.report(applied(frame["version"], frame["desired"]))
        elif message.topic == "command":
            device.ack(frame["id"])
            answer = outcome(frame)
            device.answer(frame["id"], answer["status"], answer.get("result"), answer.get("error"))

    return _serve(device.next, handle)


def respond_over_mqtt(device_id: str, next_message, publish) -> threading.Thread:
    """Handle what a device subscribed to its config and commands receives (``next_message(timeout)`` gives a
    ``Received``), publishing with ``publish(topic, body)`` (a daemon thread)."""

    def handle(message: Received) -> None:
        if message.topic.endswith("/config"):
            publish(f"devices/{device_id}/state", applied(message.body["version"], message.body["desired"]))
        else:
            publish(f"devices/{device_id}/commands/{message.body['id']}/result", outcome(message.body))

    return _serve(next_message, handle)


class HttpPoller:
    """An HTTP device's polls for commands and desired state, at most every ``HTTP_POLL_INTERVAL`` seconds."""

    def __init__(self, gateway: str, session: requests.Session):
        self.base = gateway.rstrip("/")
        self.session = session
        self.etag: str | None = None
        self._next = 0.0

    def poll(self) -> None:
        """Apply a new desired state and answer pending commands, if it is time to look."""
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + HTTP_POLL_INTERVAL
        headers = {"If-None-Match": self.etag} if self.etag else {}
        desired = self.session.get(f"{self.base}/twin/desired", headers=headers, timeout=30)
        if desired.status_code == 200:
            self.etag = desired.headers.get("ETag")
            body = desired.json()
            if body["version"]:
                self.session.put(f"{self.base}/twin/reported", json=applied(body["version"], body["desired"]),
                                 timeout=30)
        commands = self.session.get(f"{self.base}/commands", timeout=30)
        for command in commands.json().get("items", []) if commands.ok else []:
            self.session.post(f"{self.base}/commands/{command['id']}/result", json=outcome(command), timeout=30)


def _serve(next_message, handle) -> threading.Thread:
    def loop() -> None:
        while True:
            try:
                message = next_message(timeout=3600)
            except queue.Empty:
                continue
            try:
                handle(message)
            except Exception as exc:  # the socket closed meanwhile, or the gateway refused: keep going
                logger.warning("the simulated device could not handle %s: %s", message.topic, exc)

    thread = threading.Thread(target=loop, daemon=True, name="device-control")
    thread.start()
    return thread
