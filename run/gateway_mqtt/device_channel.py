"""The ``DeviceChannel`` port of gateway-mqtt on the shared ``DeviceControl``: every call runs in the I/O thread pool,
never on the event loop, and the instance's nudge subscription is started before the first read of what a device
has pending (so a command sent meanwhile is nudged, not missed)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, TypeVar

import orjson

from infra.domain.errors import AppError
from infra.usecases.device_control import DeviceControl
from infra.usecases.ingest import Identity, Ingestor
from infra.usecases.live_sessions import LiveSessions
from run.gateway_mqtt.ports import InvalidPayload, ServiceUnavailable

T = TypeVar("T")


class ControlChannel:
    """Twin and commands of the authenticated device, through ``DeviceControl`` in ``executor``."""

    def __init__(self, ingestor: Ingestor, control: DeviceControl, live: LiveSessions, executor):
        self.ingestor = ingestor
        self.control = control
        self.live = live
        self.executor = executor

    async def config(self, identity: Identity) -> tuple[int, Any]:
        twin = await self._run(self._with_device(identity, self._listening(self.control.desired)))
        return twin.desired_version, twin.desired

    async def pending(self, identity: Identity) -> list[dict[str, Any]]:
        commands = await self._run(self._with_device(identity, self._listening(self.control.pending_commands)))
        return [command.for_device() for command in commands]

    async def delivered(self, identity: Identity, command_id: str) -> None:
        await self._run(self._with_device(identity, self.control.deliver, command_id))

    async def report(self, identity: Identity, payload: bytes) -> None:
        await self._run(self._with_device(identity, self.control.report, _json(payload)))

    async def answer(self, identity: Identity, command_id: str, payload: bytes) -> None:
        await self._run(self._with_device(identity, self.control.answer, command_id, _json(payload)))

    async def opened(self, identity: Identity, session: str) -> None:
        await self._quietly(self._with_device(identity, self.control.open_session, session, "mqtt"))

    async def closed(self, identity: Identity, session: str) -> None:
        await self._quietly(self._with_device(identity, self.control.close_session, session))

    def _listening(self, call: Callable[..., T]) -> Callable[..., T]:
        def listening(*args):
            self.live.ensure_listening()
            return call(*args)

        return listening

    def _with_device(self, identity: Identity, call: Callable[..., T], *args) -> Callable[[], T]:
        return lambda: call(self.ingestor.device_of(identity), *args)

    async def _run(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, call)
        except AppError as exc:
            if exc.status >= 500:
                raise ServiceUnavailable(exc.message) from exc
            raise InvalidPayload(exc.message) from None
        except Exception as exc:  # Firestore unreachable: the device retries its unacknowledged publish
            raise ServiceUnavailable(str(exc)) from exc

    async def _quietly(self, call: Callable[[], None]) -> None:
        try:
            await self._run(call)
        except Exception:  # the status only: a session left open is ignored once stale
            pass


def _json(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise InvalidPayload("the payload must be JSON") from None
