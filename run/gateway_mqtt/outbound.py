"""What gateway-mqtt sends one device in one MQTT session, as state without I/O: its subscriptions (``config``,
``commands``), the QoS 1 publishes awaiting the device's PUBACK, and the commands and config version it has.

A device may subscribe to ``devices/<own id>/config`` and ``devices/<own id>/commands/#`` (or ``.../commands/+``,
the same set of topics); nothing else. Each command goes out once per session, on ``devices/<id>/commands/<name>``;
the config only when its version is newer than the last one sent. At most ``max_in_flight`` QoS 1 publishes wait
for their PUBACK; more wait here. Within a v5 session expiry the whole of it survives a reconnect (server.py keeps
it), and what was in flight is sent again with DUP.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from infra.domain.control import sent_command_expired
from run.gateway_mqtt.codec import Publish

CONFIG, COMMANDS = "config", "commands"
MAX_REMEMBERED_COMMANDS = 1000  # ids of commands sent in one session, to send each once (oldest forgotten first)


def subscription_kind(device_id: str, topic_filter: str) -> str | None:
    """``config`` or ``commands`` for a filter the device may subscribe to, else None."""
    base = f"devices/{device_id}/"
    if topic_filter == base + "config":
        return CONFIG
    if topic_filter in (base + "commands/#", base + "commands/+"):
        return COMMANDS
    return None


@dataclass(slots=True)
class Outgoing:
    """A publish to the device; ``command_id`` when it carries a command (its PUBACK marks it delivered)."""

    topic: str
    payload: bytes
    qos: int
    command_id: str | None = None


class Outbound:
    """One session's subscriptions and publishes to the device."""

    def __init__(self, device_id: str, max_in_flight: int):
        self.device_id = device_id
        self.max_in_flight = max_in_flight
        self.subscriptions: dict[str, int] = {}  # kind → granted QoS
        self.in_flight: dict[int, Outgoing] = {}  # packet id → publish awaiting its PUBACK
        self._waiting: deque[Outgoing] = deque()
        self._sent_commands: dict[str, None] = {}  # insertion-ordered set
        self._config_version = -1
        self._next_id = 1

    def subscribe(self, kind: str, qos: int) -> int:
        """Add (or replace) a subscription; return the granted QoS (at most 1)."""
        granted = min(qos, 1)
        self.subscriptions[kind] = granted
        if kind == CONFIG:
            self._config_version = -1  # a new subscription gets the current config, as a retained message would
        return granted

    def unsubscribe(self, kind: str) -> bool:
        """Remove a subscription; False when there was none."""
        return self.subscriptions.pop(kind, None) is not None

    def config(self, version: int, desired: Any) -> list[Publish]:
        """Publishes for a desired state: none unless subscribed and newer than the last one sent."""
        qos = self.subscriptions.get(CONFIG)
        if qos is None or version <= self._config_version:
            return []
        self._config_version = version
        payload = orjson.dumps({"version": version, "desired": desired})
        return self._queue(Outgoing(f"devices/{self.device_id}/config", payload, qos))

    def command(self, command: dict[str, Any], now: datetime | None = None) -> list[Publish]:
        """Publishes for a command (``Command.for_device()``): none unless subscribed, new to this session, and
        unexpired."""
        qos = self.subscriptions.get(COMMANDS)
        command_id = command.get("id")
        if qos is None or not isinstance(command_id, str) or command_id in self._sent_commands:
            return []
        if sent_command_expired(command, now or datetime.now(timezone.utc)):
            return []
        self._sent_commands[command_id] = None
        if len(self._sent_commands) > MAX_REMEMBERED_COMMANDS:
            del self._sent_commands[next(iter(self._sent_commands))]
        topic = f"devices/{self.device_id}/commands/{command.get('name', 'command')}"
        return self._queue(Outgoing(topic, orjson.dumps(command), qos, command_id))

    def acknowledged(self, packet_id: int) -> tuple[Outgoing | None, list[Publish]]:
        """The publish a PUBACK completes (None if unknown), and those now sent in its place."""
        done = self.in_flight.pop(packet_id, None)
        if done is None:
            return None, []
        return done, self._send_waiting()

    def resend(self) -> list[Publish]:
        """Everything in flight again, with DUP (a resumed session), then what was waiting."""
        again = [Publish(o.topic, o.payload, o.qos, packet_id, dup=True) for packet_id, o in self.in_flight.items()]
        return again + self._send_waiting()

    def _queue(self, outgoing: Outgoing) -> list[Publish]:
        if outgoing.qos == 0:
            return [Publish(outgoing.topic, outgoing.payload)]
        self._waiting.append(outgoing)
        return self._send_waiting()

    def _send_waiting(self) -> list[Publish]:
        sent = []
        while self._waiting and len(self.in_flight) < self.max_in_flight:
            outgoing = self._waiting.popleft()
            packet_id = self._allocate()
            self.in_flight[packet_id] = outgoing
            sent.append(Publish(outgoing.topic, outgoing.payload, outgoing.qos, packet_id))
        return sent

    def _allocate(self) -> int:
        while self._next_id in self.in_flight:
            self._next_id = self._next_id % 0xFFFF + 1
        packet_id = self._next_id
        self._next_id = self._next_id % 0xFFFF + 1
        return packet_id
