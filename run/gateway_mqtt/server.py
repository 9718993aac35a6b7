"""asyncio transports of gateway-mqtt: MQTT over TCP and over WebSocket, both driving ``protocol.Connection``.

The WebSocket listener accepts only ``/mqtt`` with the ``mqtt`` subprotocol and binary frames (MQTT 5
§6), and answers ``GET /healthz`` for Cloud Run, where it is the only listener (``$PORT``). ``serve``
runs both until SIGTERM/SIGINT, then shuts down gracefully: stop accepting, let publishes in flight
finish within ``Limits.shutdown_grace``, tell v5 clients 0x8B Server shutting down, close, return.

Connections are bounded by ``Limits.max_connections``; a few more (``overflow_connections``) get a
CONNACK saying busy (3.1.1 0x03 Server unavailable, v5 0x89 Server busy: come back later), the rest are
dropped at once. Connections not yet past CONNECT are bounded per client address
(``Limits.max_pending_per_address``; more are dropped at once, a WebSocket closed with 1013), so idle
sockets from one place cannot take every slot, and while more than half of the slots are taken the
CONNECT timeout drops to ``Limits.connect_timeout_under_pressure``. The client address is the TCP peer,
or over WebSocket the ``X-Forwarded-For`` entry ``trusted_proxy_hops`` from its right (Cloud Run's front
end is every WebSocket's peer). A WebSocket frame may hold at most ``Limits.max_connect_packet_size``
bytes until CONNECT is accepted (a client that sends a large PUBLISH in the same write as its CONNECT is
closed with 1009), twice ``Limits.max_packet_size`` after. A device that connects again with the same
client id takes over its old connection (v5 0x8E). Take-over is keyed by device and client id, so no
device can disconnect another by borrowing its client id, and it covers this process only: instances do
not share sessions.

Device control (with a ``DeviceChannel``): each authenticated connection is recorded as the device's session
(its status) and registered with ``live`` for the nudges of its device, which are handed to it on the event loop;
a v5 session with an expiry is kept here after its connection ends (``take`` gives it back to a reconnect of the
same device and client id within it).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import uuid
from typing import Any, Callable, Protocol

from websockets.asyncio.server import Server as WebSocketServer
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websocket_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from infra.web.addresses import forwarded_client
from run.gateway_mqtt.outbound import Outbound
from run.gateway_mqtt.ports import Authenticator, DeviceChannel, Sink
from run.gateway_mqtt.protocol import AuthCall, Connection, ControlCall, Effects, Limits, SinkCall

__all__ = ["Limits", "Server", "serve"]

logger = logging.getLogger(__name__)

WEBSOCKET_PATH = "/mqtt"
HEALTH_PATH = "/healthz"
# Stop reading from a WebSocket peer while this much output waits for it (it is not reading its acks).
_WS_HIGH_WATER = 64 * 1024


class Nudges(Protocol):
    """Where the nudges of a device come from (``infra.usecases.live_sessions.LiveSessions``)."""

    def attach(self, device_id: str, listener: Callable[[Any], None]) -> None: ...

    def detach(self, device_id: str, listener: Callable[[Any], None]) -> None: ...


class Server:
    """The MQTT gateway's listeners and connections in one event loop."""

    def __init__(self, authenticator: Authenticator, sink: Sink, limits: Limits = Limits(), *,
                 trusted_proxy_hops: int = 0, channel: DeviceChannel | None = None,
                 nudges: Nudges | None = None) -> None:
        self.authenticator = authenticator
        self.sink = sink
        self.limits = limits
        self.trusted_proxy_hops = trusted_proxy_hops
        self.channel = channel
        self.nudges = nudges
        self._stored: dict[tuple[str, str], tuple[Outbound, float]] = {}  # v5 sessions between connections
        self._tcp: asyncio.Server | None = None
        self._ws: WebSocketServer | None = None
        self._sessions: set[_Session] = set()
        self._by_client: dict[tuple[str, str], _Session] = {}
        self._tasks: set[asyncio.Task] = set()
        self._active = 0
        self._overflow = 0
        self._awaiting: dict[str, set[_Session]] = {}  # client address → its connections not past CONNECT
        self._pressed = False
        self._closing = False
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def tcp_port(self) -> int | None:
        """The bound MQTT-over-TCP port, if that listener runs."""
        return self._tcp.sockets[0].getsockname()[1] if self._tcp else None

    @property
    def ws_port(self) -> int | None:
        """The bound MQTT-over-WebSocket port, if that listener runs."""
        return next(iter(self._ws.sockets)).getsockname()[1] if self._ws else None

    @property
    def connection_count(self) -> int:
        """Open client connections, busy ones included."""
        return len(self._sessions)

    async def start(self, host: str = "127.0.0.1", tcp_port: int | None = 1883,
                    ws_port: int | None = 8766) -> None:
        """Start listening; port 0 picks a free one, None leaves that listener off."""
        self._loop = asyncio.get_running_loop()
        if tcp_port is not None:
            self._tcp = await self._loop.create_server(lambda: _TcpSession(self), host, tcp_port)
        if ws_port is not None:
            self._ws = await websocket_serve(
                self._websocket_handler, host, ws_port,
                subprotocols=["mqtt"],  # any other (or none) is refused with 400 by websockets
                process_request=_route,
                compression=None,  # small binary packets: deflate would cost CPU and memory for nothing
                max_size=self.limits.max_connect_packet_size,  # raised once CONNECT is accepted
                ping_interval=None,  # MQTT keep alive already detects dead peers
                open_timeout=self.limits.connect_timeout,
                logger=logging.getLogger(f"{__name__}.websocket"),
            )
        logger.info("MQTT gateway listening on %s (tcp %s, websocket %s)", host, self.tcp_port, self.ws_port)

    async def shutdown(self) -> None:
        """Stop accepting, finish publishes in flight within the grace period, then close everything."""
        if self._closing:
            return
        self._closing = True
        if self._tcp:
            self._tcp.close()
        if self._ws:
            self._ws.close(close_connections=False)
        for session in list(self._sessions):
            session.apply(session.conn.begin_shutdown())
        try:
            await asyncio.wait_for(self._until_idle(), self.limits.shutdown_grace)
        except TimeoutError:
            logger.warning("MQTT shutdown grace over: closing %d connections, abandoning %d publishes",
                           len(self._sessions), len(self._tasks))
            for session in list(self._sessions):
                session.apply(session.conn.abort())
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            try:
                await asyncio.wait_for(self._until_idle(), 1.0)
            except TimeoutError:
                for session in list(self._sessions):
                    session.force_close()
        if self._tcp:
            await self._tcp.wait_closed()
        if self._ws:
            await self._ws.wait_closed()
        logger.info("MQTT gateway stopped")

    async def _until_idle(self) -> None:
        while self._sessions or self._tasks:
            self._changed.clear()
            await self._changed.wait()

    # --- used by sessions ---------------------------------------------------------------------------

    def admit(self, address: str) -> bool | None:
        """Count a new connection from ``address`` in: False for a normal one, True for one to refuse as busy,
        None to drop."""
        if self._closing or len(self._awaiting.get(address, ())) >= self.limits.max_pending_per_address:
            return None
        if self._active < self.limits.max_connections:
            self._active += 1
            return False
        if self._overflow < self.limits.overflow_connections:
            self._overflow += 1
            return True
        return None

    def opened(self, session: _Session) -> None:
        """Track an admitted connection until ``release``; under pressure, hurry the ones awaiting CONNECT."""
        self._sessions.add(session)
        self._awaiting.setdefault(session.address, set()).add(session)
        pressed = self._active > self.limits.max_connections // 2
        if pressed and not self._pressed:
            for waiting in [s for group in self._awaiting.values() for s in group]:
                waiting.apply(waiting.conn.hurry(self.limits.connect_timeout_under_pressure))
        elif pressed:
            session.apply(session.conn.hurry(self.limits.connect_timeout_under_pressure))
        self._pressed = pressed

    def release(self, session: _Session) -> None:
        """Forget a connection that has ended."""
        if session not in self._sessions:
            return
        self._sessions.discard(session)
        self._stop_awaiting(session)
        if session.busy:
            self._overflow -= 1
        else:
            self._active -= 1
        self._pressed = self._active > self.limits.max_connections // 2
        if session.key is not None and self._by_client.get(session.key) is session:
            del self._by_client[session.key]
        self._end_device_session(session)
        self._changed.set()

    def _end_device_session(self, session: _Session) -> None:
        conn = session.conn
        identity = conn.identity if conn is not None else None
        if self.channel is None or identity is None:
            return
        if self.nudges is not None:
            self.nudges.detach(identity.device_id, session.nudge_listener)
        if conn.outbound is not None and conn.session_expiry and session.key is not None and not self._closing:
            self._stored[session.key] = (conn.outbound, self._loop.time() + conn.session_expiry)  # type: ignore
        self.spawn(self.channel.closed(identity, session.id))

    def register(self, session: _Session) -> None:
        """Record an authenticated connection, taking over an older one of the same device and client id."""
        self._stop_awaiting(session)
        old = self._by_client.get(session.key)  # type: ignore[arg-type]
        self._by_client[session.key] = session  # type: ignore[index]
        if old is not None and old is not session:
            old.apply(old.conn.take_over())
        identity = session.conn.identity
        if self.channel is not None and identity is not None:
            if self.nudges is not None:
                self.nudges.attach(identity.device_id, session.nudge_listener)
            self.spawn(self.channel.opened(identity, session.id))

    def take(self, key: tuple[str, str]) -> Outbound | None:
        """The session of (device id, client id) for a reconnect: off its live connection (taken over), or stored
        and unexpired; either way no longer kept there."""
        now = self._loop.time()  # type: ignore[union-attr]
        for stale in [k for k, (_, expires) in self._stored.items() if expires <= now]:
            del self._stored[stale]
        live = self._by_client.get(key)
        if live is not None and live.conn.outbound is not None:
            outbound, live.conn.outbound = live.conn.outbound, None
            return outbound
        stored = self._stored.pop(key, None)
        return stored[0] if stored else None

    def spawn(self, coroutine) -> None:
        """Run a sink call as a task that shutdown can wait for."""
        task = self._loop.create_task(coroutine)  # type: ignore[union-attr]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._changed.set()

    def _stop_awaiting(self, session: _Session) -> None:
        group = self._awaiting.get(session.address)
        if group is not None:
            group.discard(session)
            if not group:
                del self._awaiting[session.address]

    async def _websocket_handler(self, websocket: ServerConnection) -> None:
        await _WebSocketSession(self, websocket).run()


def _route(connection: ServerConnection, request: Request) -> Response | None:
    """Answer health checks and unknown paths over plain HTTP; let ``/mqtt`` go on to the handshake."""
    path = request.path.split("?", 1)[0]
    if path == HEALTH_PATH:
        response = connection.respond(200, '{"status": "ok"}')
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response
    if path != WEBSOCKET_PATH:
        return connection.respond(404, "Not Found\n")
    return None


class _Session:
    """What both transports share: applying a connection's effects, its timer, its sink calls."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.conn: Connection = None  # type: ignore[assignment]
        self.address = "unknown"
        self.busy = False
        self.key: tuple[str, str] | None = None
        self.id = uuid.uuid4().hex[:12]  # this connection, as the device's session (its status)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._wants_reading = True
        self._writes_blocked = False

    def open(self, busy: bool) -> None:
        """Create the protocol state of an admitted connection."""
        server = self.server
        self.busy = busy
        self.conn = Connection(server.authenticator, server.sink, server.limits, busy=busy,
                               clock=server._loop.time, channel=server.channel,  # type: ignore[union-attr]
                               sessions=server)
        self._schedule_timer()
        server.opened(self)

    def apply(self, effects: Effects) -> None:
        """Carry out what the connection asked for."""
        if effects.authentication is not None:
            self.server.spawn(self._authenticate(effects.authentication))
        if effects.session is not None:
            self.key = effects.session
            self.server.register(self)
            self.connected()
        for call in effects.deliveries:
            self.server.spawn(self._deliver(call))
        for control in effects.control:
            self.server.spawn(self._control(control))
        if effects.send:
            self.write(effects.send)
        if effects.reading is not None:
            self._wants_reading = effects.reading
            self.set_reading(effects.reading and not self._writes_blocked)
        if effects.close:
            self._cancel_timer()
            self.close()
            return
        self._schedule_timer()

    async def _deliver(self, call: SinkCall) -> None:
        self.apply(await self.conn.deliver(call))

    async def _authenticate(self, call: AuthCall) -> None:
        self.apply(await self.conn.authenticate(call))

    async def _control(self, call: ControlCall) -> None:
        self.apply(await self.conn.run_control(call))

    def nudge_listener(self, nudge) -> None:
        """Take a nudge for this connection's device (on the subscriber's thread) onto the event loop."""
        self.server._loop.call_soon_threadsafe(self._nudged, nudge)  # type: ignore[union-attr]

    def _nudged(self, nudge) -> None:
        if nudge.kind == "config":
            self.apply(self.conn.push_config(nudge.body.get("version", 0), nudge.body.get("desired", {})))
        elif nudge.kind == "command" and isinstance(nudge.body.get("command"), dict):
            self.apply(self.conn.push_commands([nudge.body["command"]]))

    def connected(self) -> None:
        """The CONNECT was accepted: the connection may now send packets of the full size."""

    def writes_blocked(self, blocked: bool) -> None:
        """Stop reading while the peer does not take our output (it could otherwise grow without bound)."""
        self._writes_blocked = blocked
        self.set_reading(self._wants_reading and not blocked)

    def _schedule_timer(self) -> None:
        deadline = self.conn.next_deadline
        if deadline is None:
            self._cancel_timer()
            return
        # Deadlines mostly move later (keep alive); an early timer just re-arms, which is cheaper than
        # rescheduling on every packet.
        if self._timer is not None and self._timer_at <= deadline:
            return
        self._cancel_timer()
        self._timer_at = deadline
        self._timer = self.server._loop.call_at(deadline, self._on_timer)  # type: ignore[union-attr]

    def _on_timer(self) -> None:
        self._timer = None
        self.apply(self.conn.timer())

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def ended(self) -> None:
        """Clean up after the transport is gone."""
        self._cancel_timer()
        if self.conn is not None:
            self.conn.connection_lost()
        self.server.release(self)

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def set_reading(self, reading: bool) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def force_close(self) -> None:
        raise NotImplementedError


class _TcpSession(_Session, asyncio.Protocol):
    """MQTT over a TCP connection."""

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.address = peer[0] if peer else "unknown"
        busy = self.server.admit(self.address)
        if busy is None:
            transport.abort()
            return
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Acks are tiny and latency-bound; Nagle + delayed ACK would hold them ~40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.open(busy)

    def data_received(self, data: bytes) -> None:
        self.apply(self.conn.data_received(data))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self.ended()

    def pause_writing(self) -> None:
        self.writes_blocked(True)

    def resume_writing(self) -> None:
        self.writes_blocked(False)

    def write(self, data: bytes) -> None:
        self._transport.write(data)  # type: ignore[union-attr]

    def set_reading(self, reading: bool) -> None:
        transport = self._transport
        if transport.is_closing():  # type: ignore[union-attr]
            return
        if reading:
            transport.resume_reading()  # type: ignore[union-attr]
        else:
            transport.pause_reading()  # type: ignore[union-attr]

    def close(self) -> None:
        self._transport.close()  # type: ignore[union-attr]

    def force_close(self) -> None:
        self._transport.abort()  # type: ignore[union-attr]


class _WebSocketSession(_Session):
    """MQTT over one WebSocket: binary frames in, coalesced binary frames out."""

    def __init__(self, server: Server, websocket: ServerConnection) -> None:
        super().__init__(server)
        self._websocket = websocket
        self._out = bytearray()
        self._out_ready = asyncio.Event()
        self._reading = asyncio.Event()
        self._reading.set()
        self._closing = False

    async def run(self) -> None:
        websocket = self._websocket
        peer = websocket.remote_address
        self.address = forwarded_client(websocket.request.headers.get("X-Forwarded-For"),  # type: ignore[union-attr]
                                        peer[0] if peer else None, self.server.trusted_proxy_hops)
        busy = self.server.admit(self.address)
        if busy is None:
            await websocket.close(1013, "try again later")
            return
        self.open(busy)
        writer = asyncio.create_task(self._write_loop())
        try:
            await self._read_loop()
        finally:
            self._closing = True
            self._out_ready.set()
            await writer
            self.ended()

    async def _read_loop(self) -> None:
        websocket = self._websocket
        while not self.conn.closed:
            if not self._reading.is_set():
                await self._reading.wait()
                continue
            try:
                message = await websocket.recv()
            except ConnectionClosed:
                return
            if isinstance(message, str):
                # MQTT 5 §6 / [MQTT-6.0.0-1]: a text frame ends the connection.
                self.conn.connection_lost()
                self.close()
                return
            self.apply(self.conn.data_received(message))

    async def _write_loop(self) -> None:
        websocket = self._websocket
        try:
            while self._out or not self._closing:
                if not self._out:
                    await self._out_ready.wait()
                    self._out_ready.clear()
                    continue
                data = bytes(self._out)
                self._out.clear()
                await websocket.send(data)
                if self._writes_blocked:
                    self.writes_blocked(False)
            await websocket.close()
        except ConnectionClosed:
            pass

    def connected(self) -> None:
        # A frame may hold several packets (MQTT 5 §6); before CONNECT only the CONNECT limit (``Server.start``).
        self._websocket.protocol.max_size = 2 * self.server.limits.max_packet_size

    def write(self, data: bytes) -> None:
        if self._closing:
            return
        self._out += data
        self._out_ready.set()
        if len(self._out) > _WS_HIGH_WATER and not self._writes_blocked:
            self.writes_blocked(True)

    def set_reading(self, reading: bool) -> None:
        if reading or self._closing:
            self._reading.set()
        else:
            self._reading.clear()

    def close(self) -> None:
        self._closing = True
        self._out_ready.set()
        self._reading.set()

    def force_close(self) -> None:
        self._websocket.transport.abort()


async def serve(authenticator: Authenticator, sink: Sink, *, host: str = "127.0.0.1",
                tcp_port: int | None = 1883, ws_port: int | None = 8766, limits: Limits = Limits(),
                trusted_proxy_hops: int = 0, ready: Callable[[Server], None] | None = None,
                stop: asyncio.Event | None = None, channel: DeviceChannel | None = None,
                nudges: Nudges | None = None) -> None:
    """Run the gateway until SIGTERM or SIGINT (or ``stop`` is set), then shut down gracefully and return.

    ``ready`` is called with the started server (e.g. to learn the ports picked for port 0); ``channel`` and
    ``nudges`` enable device control.
    """
    server = Server(authenticator, sink, limits, trusted_proxy_hops=trusted_proxy_hops, channel=channel,
                    nudges=nudges)
    await server.start(host, tcp_port, ws_port)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread: the caller stops us through ``stop``
    try:
        if ready is not None:
            ready(server)
        await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await server.shutdown()
