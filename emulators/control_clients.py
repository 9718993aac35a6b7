"""Device-side clients of device control over MQTT (paho-mqtt) and WebSocket (websocket-client): receive the desired
state and commands as the gateways push them, report state and answer commands.

    device = MqttDevice("127.0.0.1", 1883, device_id, key)
    device.connect()
    device.subscribe(f"devices/{device_id}/config", f"devices/{device_id}/commands/#")
    message = device.next()           # {"version", "desired"} on .../config, a command on .../commands/<name>
    device.report({"rate": 5})        # devices/<id>/state
    device.answer(command_id, "succeeded", {"uptime": 12})

The simulator (``python -m emulators.devices``), the benchmark and the tests use them; so may anyone's device.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import orjson

WAIT = 15.0  # seconds any single expected event may take
_CLOSED: dict = {}  # put on a WsDevice's acks when its socket closed


@dataclass
class Received:
    """A message the gateway pushed: its topic (MQTT) or type (WebSocket), the decoded body, and MQTT's flags."""

    topic: str
    body: Any
    qos: int = 0
    dup: bool = False
    mid: int = 0
    received_at: float = field(default_factory=time.perf_counter)  # when it arrived (``time.perf_counter``)


class MqttDevice:
    """One device's MQTT connection (TCP, or WebSocket with ``websocket_path``), version 5 or 3.1.1 (``version=4``).

    With ``manual_ack`` the device acknowledges a QoS 1 message only when ``ack`` is called (paho acknowledges on
    receipt otherwise).
    """

    def __init__(self, host: str, port: int, device_id: str, token: str, *, version: int = 5,
                 client_id: str | None = None, websocket_path: str | None = None, manual_ack: bool = False):
        import paho.mqtt.client as mqtt

        self.device_id = device_id
        self.version = version
        self.host, self.port = host, port
        protocol = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"dev-{device_id}",
                                  protocol=protocol, transport="websockets" if websocket_path else "tcp",
                                  manual_ack=manual_ack)
        if websocket_path:
            self.client.ws_set_options(path=websocket_path)
        self.client.username_pw_set("JWT", token)
        self.messages: queue.Queue[Received] = queue.Queue()
        self._events: dict[str, queue.Queue] = {"connack": queue.Queue(), "suback": queue.Queue(),
                                                "puback": queue.Queue()}
        self._acks: dict[int, int] = {}
        self._acked = threading.Condition()
        self.client.on_connect = lambda c, u, flags, rc, p: self._events["connack"].put((rc.value,
                                                                                          flags.session_present))
        self.client.on_subscribe = lambda c, u, mid, codes, p: self._events["suback"].put([code.value
                                                                                           for code in codes])
        self.client.on_message = self._message
        self.client.on_publish = self._published

    @classmethod
    def from_url(cls, url: str, device_id: str, token: str, **options) -> "MqttDevice":
        """A device for ``mqtt://host:port`` or ``ws://host:port/mqtt``."""
        parsed = urlparse(url)
        websocket = parsed.scheme in ("ws", "wss")
        return cls(parsed.hostname or "127.0.0.1", parsed.port or (80 if websocket else 1883), device_id, token,
                   websocket_path=(parsed.path or "/mqtt") if websocket else None, **options)

    def connect(self, *, clean_start: bool = True, session_expiry: int = 0) -> tuple[int, bool]:
        """Connect and wait for the CONNACK: (reason code, session present)."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        if self.version == 5:
            properties = Properties(PacketTypes.CONNECT)
            if session_expiry:
                properties.SessionExpiryInterval = session_expiry
            self.client.connect(self.host, self.port, clean_start=clean_start, properties=properties)
        else:
            self.client.connect(self.host, self.port)
        self.client.loop_start()
        return self._events["connack"].get(timeout=WAIT)

    def subscribe(self, *topics: str, qos: int = 1) -> list[int]:
        """Subscribe and wait for the SUBACK: one granted QoS or refusal code per topic."""
        self.client.subscribe([(topic, qos) for topic in topics])
        return self._events["suback"].get(timeout=WAIT)

    def next(self, timeout: float = WAIT) -> Received:
        """The next pushed message (raises ``queue.Empty`` after ``timeout``)."""
        return self.messages.get(timeout=timeout)

    def ack(self, message: Received) -> None:
        """Acknowledge a QoS 1 message (with ``manual_ack``)."""
        self.client.ack(message.mid, message.qos)

    def publish(self, topic: str, body: Any, qos: int = 1) -> int | None:
        """Publish JSON; for QoS 1 wait for the PUBACK and return its reason code (None if none came)."""
        info = self.client.publish(topic, orjson.dumps(body), qos=qos)
        if not qos:
            return 0
        with self._acked:
            self._acked.wait_for(lambda: info.mid in self._acks, timeout=WAIT)
            return self._acks.pop(info.mid, None)

    def report(self, state: dict) -> int | None:
        """Publish the reported state (``null`` removes a key)."""
        return self.publish(f"devices/{self.device_id}/state", state)

    def answer(self, command_id: str, status: str = "succeeded", result: Any = None,
               error: str | None = None) -> int | None:
        """Publish a command's result."""
        body = {"status": status, **({"result": result} if result is not None else {}),
                **({"error": error} if error is not None else {})}
        return self.publish(f"devices/{self.device_id}/commands/{command_id}/result", body)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _message(self, client, userdata, message) -> None:
        try:
            body = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            body = message.payload
        self.messages.put(Received(message.topic, body, message.qos, bool(message.dup), message.mid))

    def _published(self, client, userdata, mid, reason_code, properties) -> None:
        with self._acked:
            self._acks[mid] = reason_code.value
            self._acked.notify_all()


class WsDevice:
    """One device's WebSocket to gateway-ws: pushed frames carry ``type``, acks of its own frames carry ``ok``.

    A reader thread sorts them, so pushes and acks may interleave freely.
    """

    def __init__(self, url: str, token: str):
        import websocket

        self.ws = websocket.create_connection(url, timeout=WAIT, header=[f"Authorization: Bearer {token}"])
        self.ws.settimeout(None)  # the reader waits for pushes as long as the socket lives
        self.messages: queue.Queue[Received] = queue.Queue()
        self.acks: queue.Queue[dict] = queue.Queue()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def next(self, timeout: float = WAIT) -> Received:
        """The next pushed frame (``topic`` = its type; raises ``queue.Empty`` after ``timeout``)."""
        return self.messages.get(timeout=timeout)

    def send(self, frame: dict | list) -> dict:
        """Send a frame and return its ack."""
        return self.send_text(orjson.dumps(frame).decode())

    def send_text(self, text: str) -> dict:
        """Send a text frame as it is (telemetry JSON) and return its ack; ConnectionError once the socket closed (a
        resending device connects again at once rather than waiting for an ack that cannot come)."""
        with self._send_lock:
            self.ws.send(text)
            ack = self.acks.get(timeout=WAIT)
            if ack is _CLOSED:
                self.acks.put(_CLOSED)  # for the next caller too
                raise ConnectionError("gateway-ws closed the socket")
            return ack

    def ack(self, command_id: str) -> dict:
        """Tell the gateway a command arrived (it is then ``delivered``)."""
        return self.send({"type": "ack", "id": command_id})

    def report(self, state: dict) -> dict:
        return self.send({"type": "state", "state": state})

    def answer(self, command_id: str, status: str = "succeeded", result: Any = None,
               error: str | None = None) -> dict:
        frame = {"type": "result", "id": command_id, "status": status}
        if result is not None:
            frame["result"] = result
        if error is not None:
            frame["error"] = error
        return self.send(frame)

    def close(self) -> None:
        self.ws.close()

    def _read(self) -> None:
        import websocket

        while True:
            try:
                data = self.ws.recv()
            except (websocket.WebSocketException, OSError):
                data = None
            if not data:
                self.acks.put(_CLOSED)
                return
            frame = orjson.loads(data)
            if "type" in frame and "ok" not in frame:
                self.messages.put(Received(frame["type"], frame))
            else:
                self.acks.put(frame)
