"""A device's WebSocket as the gateway's way to reach it: the desired state and commands pushed as frames, and the
device's control frames (``state``, ``ack``, ``result``) answered through ``DeviceControl``.

Pushed frames carry a ``type`` (``{"type": "config", "version", "desired"}``, ``{"type": "command", "id", "name",
"payload", "expires_at"}``); acks of the device's frames carry ``ok``, so a device tells them apart on one socket. A
command is pushed at most once per socket, whether it was read on connect or nudged (or both); a config only when
its version is newer than the last one pushed. Pushes come from the nudge subscriber's threads while the socket's
own thread sends acks, so every send holds the socket's lock.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

import orjson
from simple_websocket import ConnectionClosed

from infra.domain.control import sent_command_expired
from infra.domain.errors import BadRequestError
from infra.usecases.device_control import DeviceControl, DeviceRef
from infra.usecases.live_sessions import LiveSessions, NudgeLike

logger = logging.getLogger(__name__)

CONTROL_FRAMES = ("state", "ack", "result")  # frame types a device sends; a frame without ``type`` is telemetry


class LiveSocket:
    """One device's open socket on this instance, registered for nudges while ``session()`` runs."""

    def __init__(self, ws, device: DeviceRef, control: DeviceControl, live: LiveSessions):
        self.ws = ws
        self.device = device
        self.control = control
        self.live = live
        self._lock = threading.Lock()
        self._sent_commands: set[str] = set()
        self._config_version = -1

    @contextmanager
    def session(self, session_id: str) -> Iterator[None]:
        """Take nudges for the device, record the session, push what is pending; undo it all when the block ends."""
        self.live.ensure_listening()
        self.live.attach(self.device.id, self.on_nudge)  # before reading: a command nudged meanwhile is not missed
        try:
            self._record(self.control.open_session, session_id, "ws")
            self._push_pending()
            yield
        finally:
            self.live.detach(self.device.id, self.on_nudge)
            self._record(self.control.close_session, session_id)

    def send(self, frame: dict[str, Any]) -> None:
        """Send one frame (an ack or a push) unless the socket has closed."""
        data = orjson.dumps(frame).decode()
        with self._lock:
            try:
                self.ws.send(data)
            except ConnectionClosed:
                pass

    def on_nudge(self, nudge: NudgeLike) -> None:
        """Push what a nudge brings (called on the subscriber's threads)."""
        if nudge.kind == "config":
            self.push_config(nudge.body.get("version", 0), nudge.body.get("desired", {}))
        elif nudge.kind == "command" and isinstance(nudge.body.get("command"), dict):
            self.push_command(nudge.body["command"])

    def push_config(self, version: int, desired: dict) -> None:
        """Push the desired state unless this socket has it (or a newer one) already."""
        with self._lock:
            if version <= self._config_version:
                return
            self._config_version = version
        self.send({"type": "config", "version": version, "desired": desired})

    def push_command(self, command: dict[str, Any]) -> None:
        """Push a command (``Command.for_device()``) unless it was pushed on this socket or has expired."""
        if sent_command_expired(command, datetime.now(timezone.utc)):
            return
        with self._lock:
            if command["id"] in self._sent_commands:
                return
            self._sent_commands.add(command["id"])
        self.send({"type": "command", **command})

    def answer(self, frame: dict[str, Any]) -> dict[str, Any]:
        """The ack of a control frame: ``state`` (report), ``ack`` (the command arrived), ``result``.

        Raises:
            AppError: as ``DeviceControl`` raises them; BadRequestError for an unknown type or a missing id.
        """
        kind = frame.get("type")
        if kind == "state":
            twin = self.control.report(self.device, frame.get("state"))
            return {"ok": True, "version": twin.reported_version}
        if kind not in ("ack", "result"):
            raise BadRequestError(f"type must be one of {', '.join(CONTROL_FRAMES)}, or absent for telemetry",
                                  details={"field": "type"})
        command_id = frame.get("id")
        if not isinstance(command_id, str) or not command_id:
            raise BadRequestError("id must name a command", details={"field": "id"})
        if kind == "ack":
            command = self.control.deliver(self.device, command_id)
        else:
            body = {key: frame[key] for key in ("status", "result", "error") if key in frame}
            command = self.control.answer(self.device, command_id, body)
        return {"ok": True, "id": command.id, "status": command.status}

    def _record(self, change, *args) -> None:
        try:
            change(self.device, *args)
        except Exception as exc:  # status only: the socket serves on, a stale session is ignored when read
            logger.warning("recording a WebSocket session of device %s failed: %s", self.device.id, exc)

    def _push_pending(self) -> None:
        try:
            twin = self.control.desired(self.device)
            commands = self.control.pending_commands(self.device)
        except Exception as exc:  # the socket still carries telemetry; the device gets them on its next connect
            logger.warning("reading the pending state of device %s failed: %s", self.device.id, exc)
            return
        if twin.desired_version:  # none set yet: nothing to apply (and telemetry-only devices see only their acks)
            self.push_config(twin.desired_version, twin.desired)
        for command in commands:
            self.push_command(command.for_device())


def control_frame(payload: bytes) -> dict[str, Any] | None:
    """The frame as a control frame (an object with ``type``), or None for telemetry. Cheap for telemetry: only a
    frame that mentions ``"type"`` is decoded here."""
    if b'"type"' not in payload:
        return None
    try:
        decoded = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None  # telemetry's validation answers it
    return decoded if isinstance(decoded, dict) and "type" in decoded else None
