"""One MQTT gateway connection as a state machine without I/O: bytes, sink results and timers in, effects out.

The transports (``server.py``) feed it received bytes and report when a sink call finished; it answers
with ``Effects``: bytes to write, sink calls to start, whether to pause or resume reading, and whether
to close. Time comes from an injected clock, so tests drive timeouts without sleeping.

Decisions that MQTT leaves to the server, and why:

- Subscriptions. With a ``DeviceChannel`` (device control, docs/device-control.md), a device may subscribe to
  ``devices/<own id>/config`` and ``devices/<own id>/commands/#`` (or ``/+``) at QoS 0 or 1 (``outbound``); every
  other filter, and every filter without a channel (ingest only), is refused per filter (3.1.1 SUBACK 0x80, v5
  0x87 Not authorized) and the connection stays up. UNSUBSCRIBE gets an UNSUBACK (v5: 0x11 No subscription
  existed, when none did). The current config is published on subscribe and on every change, each command once
  (QoS 1: marked delivered by the device's PUBACK, sent again with DUP when a v5 session resumes). The device
  publishes its reported state on ``devices/<id>/state`` and results on ``devices/<id>/commands/<id>/result``,
  acknowledged once stored. Wills are accepted and discarded: there is no subscriber who could receive them.
- Sessions. A v5 client's session expiry is honoured up to ``Limits.max_session_expiry`` (told in CONNACK when
  lowered): within it, a reconnect with Clean Start 0 to the same instance finds its subscriptions and unacknowledged
  commands (session present = 1). 3.1.1 sessions, and any without a channel, are not kept (session present = 0).
- QoS 1 PUBACK only after the sink confirmed. Publishes of one connection run concurrently up to
  ``Limits.receive_maximum`` (QoS 0 included, so a QoS 0 flood cannot queue unbounded work); at the
  bound the connection stops decoding and asks the transport to stop reading: backpressure instead of
  buffering. v5 clients are told the bound as Receive Maximum. PUBACKs go out in completion order.
- QoS 2 is refused (v5 DISCONNECT 0x9B, with Maximum QoS 1 advertised; 3.1.1 close).
- Retain is not offered. v5 advertises Retain Available 0, so a retained publish is a protocol error
  there (DISCONNECT 0x9A, as MQTT 5 §3.2.2.3.5 requires). 3.1.1 has no way to advertise it: a retained
  publish is ingested as an ordinary reading and acknowledged, because retain only concerns future
  subscribers, which this gateway does not have, and the reading itself is valid.
- Topics: ``<device_id>`` and ``devices/<device_id>/telemetry`` of the authenticated device only. Another
  device's topic: v5 QoS 1 gets PUBACK 0x87 and the connection stays; v5 QoS 0 gets DISCONNECT 0x87
  (nothing else could tell the client); 3.1.1 closes the connection ([MQTT-3.3.5-2]). Topic aliases are
  not offered (Topic Alias Maximum 0; using one is DISCONNECT 0x94).
- Sink errors. ``InvalidPayload``: v5 QoS 1 gets PUBACK 0x99 with the message as Reason String; 3.1.1
  QoS 1 gets a plain PUBACK. Closing instead would make the client resend the same bad payload forever
  (paho does), and the sink has handed the rejection to Pub/Sub, for the pipeline to record where the owner
  can see it, as it records a poison message. ``RateLimited``: v5 QoS 1 gets PUBACK 0x97 Quota exceeded;
  3.1.1 QoS 1 closes, so the reading is not lost and the client's reconnect back-off slows it down. A QoS 0 publish that is
  invalid or over quota is dropped: at most once allows it, and the sink has counted it.
  ``ServiceUnavailable`` (and any unexpected sink failure): no PUBACK; v5 DISCONNECT 0x89 Server busy
  (0x88 is not a DISCONNECT code; 0x89 tells the client to come back later), 3.1.1 close. The client
  resends unacknowledged publishes after reconnecting, so nothing is lost.
- Authentication is asynchronous (the authenticator may read a key store): from the CONNECT until the
  authenticator answered, the connection asks the transport to stop reading and decodes nothing more.
- Token lifetime. A token that expires while connected ends the connection with v5 DISCONNECT 0xA0
  Maximum connect time: the connection outlived the time its credentials granted, and the remedy is to
  reconnect with a fresh token, not that the client did something unauthorized. A token the sink finds
  revoked (``NotAuthorized``) gets DISCONNECT 0x87 Not authorized and that publish no PUBACK, so a device
  whose key was rotated resends it with the new key.
- QoS 1 resends. Each QoS 1 sink call carries a delivery id (client id and packet id) and the DUP flag,
  so the sink can recognise a publish resent after a lost PUBACK, on this connection or a later one. A v5
  PUBACK tells how many records a later record of the same publish replaced (same sensor and time) in
  the user property ``replaced``, when there were any.
- Keep alive: the server disconnects after 1.5 × the keep alive without a packet (v5 DISCONNECT 0x8D).
  Keep alive 0 or above ``Limits.max_keep_alive`` is lowered to that maximum; v5 clients are told so in
  Server Keep Alive, 3.1.1 clients rely on the spec's permission to drop inactive clients (§3.1.2.10).
  While the connection is at its in-flight bound or shutting down, the keep alive is not enforced:
  the gateway, not the client, stopped reading.
- CONNECT timeout: ``Limits.connect_timeout`` from accepting the connection to its CONNECT; the server
  shortens it to ``Limits.connect_timeout_under_pressure`` (``hurry``) when its slots run short, so idle
  sockets that never authenticate cannot hold them. Until CONNECT is accepted, packets may be at most
  ``Limits.max_connect_packet_size``.
- Client identifiers: an empty one is replaced by a generated one (v5 Assigned Client Identifier;
  3.1.1 only with clean session, else CONNACK 0x02). Longer than ``Limits.max_client_id_length``:
  3.1.1 0x02, v5 0x85.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from run.gateway_mqtt.codec import (
    MQTT_5,
    NO_PROPERTIES,
    ConnAck,
    Connect,
    Decoder,
    Disconnect,
    MalformedPacketError,
    Packet,
    PingReq,
    Properties,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
    UnsupportedProtocolVersionError,
    encode,
    encode_puback,
)
from run.gateway_mqtt.outbound import Outbound, subscription_kind
from run.gateway_mqtt.ports import (
    Authenticator,
    BadCredentials,
    DeviceChannel,
    GatewayError,
    Identity,
    InvalidPayload,
    NotAuthorized,
    RateLimited,
    ServiceUnavailable,
    Sink,
    Stored,
)

logger = logging.getLogger(__name__)

# MQTT 3.1.1 CONNACK return codes (§3.2.2.3).
V3_UNACCEPTABLE_PROTOCOL = 0x01
V3_IDENTIFIER_REJECTED = 0x02
V3_SERVER_UNAVAILABLE = 0x03
V3_BAD_CREDENTIALS = 0x04
V3_NOT_AUTHORIZED = 0x05

# MQTT 5 reason codes (§2.4).
NO_SUBSCRIPTION_EXISTED = 0x11
UNSPECIFIED_ERROR = 0x80
PROTOCOL_ERROR = 0x82
UNSUPPORTED_PROTOCOL_VERSION = 0x84
CLIENT_ID_NOT_VALID = 0x85
BAD_CREDENTIALS = 0x86
NOT_AUTHORIZED = 0x87
SERVER_UNAVAILABLE = 0x88
SERVER_BUSY = 0x89
BAD_AUTHENTICATION_METHOD = 0x8C
SERVER_SHUTTING_DOWN = 0x8B
KEEP_ALIVE_TIMEOUT = 0x8D
SESSION_TAKEN_OVER = 0x8E
TOPIC_ALIAS_INVALID = 0x94
QUOTA_EXCEEDED = 0x97
PAYLOAD_FORMAT_INVALID = 0x99
RETAIN_NOT_SUPPORTED = 0x9A
QOS_NOT_SUPPORTED = 0x9B
MAXIMUM_CONNECT_TIME = 0xA0
SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1

_PINGRESP = b"\xd0\x00"
_CONNACK_ACCEPTED_V3 = b"\x20\x02\x00\x00"

_AWAIT_CONNECT, _AUTHENTICATING, _CONNECTED, _CLOSED = range(4)


@dataclass(frozen=True)
class Limits:
    """Bounds of one gateway process and of each of its connections."""

    max_connections: int = 1000
    receive_maximum: int = 32  # sink calls in flight per connection (v5 Receive Maximum)
    max_packet_size: int = 256 * 1024  # v5 Maximum Packet Size; bigger packets end the connection
    max_connect_packet_size: int = 16 * 1024  # before authentication, so strangers cannot make us buffer
    connect_timeout: float = 10.0  # seconds from accepting a connection to its CONNECT
    connect_timeout_under_pressure: float = 2.0  # when more than half of max_connections are taken
    max_pending_per_address: int = 32  # connections of one client address not yet past CONNECT
    max_keep_alive: int = 600  # seconds; also the keep alive of clients that ask for none
    max_client_id_length: int = 256
    overflow_connections: int = 64  # beyond max_connections, this many are answered "busy", others dropped
    shutdown_grace: float = 8.0  # seconds in-flight publishes get on shutdown (Cloud Run allows 10)
    max_session_expiry: int = 3600  # seconds a v5 session may outlive its connection (on this instance)

    def __post_init__(self) -> None:
        if not 1 <= self.receive_maximum <= 0xFFFF:
            raise ValueError("receive_maximum must be 1..65535")
        if not 64 <= self.max_connect_packet_size <= self.max_packet_size <= 268_435_460:
            raise ValueError("need 64 <= max_connect_packet_size <= max_packet_size <= 268435460")
        if not 1 <= self.max_keep_alive <= 0xFFFF:
            raise ValueError("max_keep_alive must be 1..65535 seconds")
        if self.max_connections < 1 or self.overflow_connections < 0:
            raise ValueError("max_connections must be positive and overflow_connections not negative")
        if self.connect_timeout <= 0 or self.shutdown_grace < 0 or self.max_client_id_length < 1:
            raise ValueError("timeouts and lengths must be positive")
        if self.connect_timeout_under_pressure <= 0 or self.max_pending_per_address < 1:
            raise ValueError("connect_timeout_under_pressure and max_pending_per_address must be positive")


@dataclass(slots=True, eq=False)
class AuthCall:
    """The credentials of a CONNECT the transport must check (``Connection.authenticate``)."""

    username: str | None
    password: bytes | None
    client_id: str


TELEMETRY, STATE, RESULT = "telemetry", "state", "result"


@dataclass(slots=True, eq=False)
class ControlCall:
    """A device-channel call the transport must run off the event loop (``Connection.run_control``): ``config`` or
    ``commands`` (read what to send), ``delivered`` (a command reached the device)."""

    kind: str
    command_id: str | None = None


@dataclass(slots=True, eq=False)
class SinkCall:
    """One accepted publish the transport must hand to the sink, then report with ``delivery_done``.

    ``delivery_id`` (QoS 1 only) names the publish across connections of the client: its client id and
    packet id; ``repeated`` is its DUP flag.
    """

    identity: Identity
    payload: bytes
    qos: int
    packet_id: int | None
    delivery_id: str | None = None
    repeated: bool = False
    route: str = TELEMETRY  # TELEMETRY (the sink), STATE or RESULT (the device channel)
    command_id: str | None = None  # of a RESULT


@dataclass(slots=True)
class Effects:
    """What the transport must do after an input, in this order.

    Start checking ``authentication`` (``Connection.authenticate``); register ``session`` (device id,
    client id) for take-over; start a sink call for each of ``deliveries`` (a publish accepted just before
    a close is still delivered: at least once) and a channel call for each of ``control``; write ``send``; pause
    (``reading`` False) or resume (True) reading from the peer; close if ``close``.
    """

    send: bytes = b""
    authentication: AuthCall | None = None
    deliveries: list[SinkCall] | tuple[()] = ()
    reading: bool | None = None
    session: tuple[str, str] | None = None
    close: bool = False
    control: list[ControlCall] | tuple[()] = ()


_NOTHING = Effects()


class SessionStore(Protocol):
    """Where v5 sessions wait between connections (server.py)."""

    def take(self, key: tuple[str, str]) -> Outbound | None:
        """The unexpired session of (device id, client id), taken out of the store (or off a live connection)."""
        ...


class Connection:
    """The protocol state of one client connection, whatever carries its bytes."""

    def __init__(self, authenticator: Authenticator, sink: Sink | None = None, limits: Limits = Limits(), *,
                 busy: bool = False, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, channel: DeviceChannel | None = None,
                 sessions: SessionStore | None = None) -> None:
        """Start waiting for the CONNECT; a ``busy`` connection answers it with server busy and closes.

        ``channel`` enables device control (subscriptions, state, results); ``sessions`` keeps v5 sessions.
        """
        self._authenticator = authenticator
        self._sink = sink
        self._channel = channel
        self._sessions = sessions
        self.outbound: Outbound | None = None  # with a channel, once connected
        self.session_expiry = 0  # seconds the session outlives the connection (v5)
        self._control: list[ControlCall] = []
        self._limits = limits
        self._busy = busy
        self._clock = clock
        self._wall_clock = wall_clock
        self._now = now = clock()
        self._state = _AWAIT_CONNECT
        self._decoder = Decoder(max_packet_size=limits.max_connect_packet_size)
        self._opened = now
        self._connect_deadline = now + limits.connect_timeout
        self._connect: Connect | None = None  # while authenticating
        self._authentication: AuthCall | None = None  # the call whose answer is awaited
        self._to_authenticate: AuthCall | None = None  # handed to the transport with the next effects
        self.version = 0
        self.identity: Identity | None = None
        self.client_id: str | None = None
        self._topics: frozenset[str] = frozenset()
        self._keep_alive = 0
        self._last_received = now
        self._expires = None  # on the monotonic clock
        self._pending = 0
        self._in_flight: set[int] = set()
        self._blocked = False
        self._shutting_down = False
        self._reading_paused = False
        self._problem_information = True
        self._client_max_packet: int | None = None
        self._out: list[bytes] = []
        self._deliveries: list[SinkCall] = []
        self._session: tuple[str, str] | None = None
        self._close_requested = False

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (closed by either side)."""
        return self._state == _CLOSED

    @property
    def pending(self) -> int:
        """Sink calls started and not yet reported done."""
        return self._pending

    @property
    def awaiting_connect(self) -> bool:
        """Whether no CONNECT has arrived yet (an idle socket, as far as the server can tell)."""
        return self._state == _AWAIT_CONNECT

    @property
    def next_deadline(self) -> float | None:
        """The clock time at which ``timer`` must be called next, if any."""
        if self._state in (_AWAIT_CONNECT, _AUTHENTICATING):
            return self._connect_deadline
        if self._state == _CLOSED:
            return None
        deadline = self._expires
        if self._keep_alive and not (self._blocked or self._shutting_down):
            idle_deadline = self._last_received + 1.5 * self._keep_alive
            if deadline is None or idle_deadline < deadline:
                deadline = idle_deadline
        return deadline

    # --- inputs -----------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> Effects:
        """Process bytes from the peer."""
        if self._state == _CLOSED or self._shutting_down:
            return _NOTHING
        self._now = self._clock()
        self._decoder.feed(data)
        self._drain()
        return self._effects()

    def delivery_done(self, call: SinkCall, error: BaseException | None = None, *, replaced: int = 0) -> Effects:
        """Report that the sink finished a call, successfully (``replaced`` records of it replaced by a later
        one of the same publish) or with ``error``."""
        self._pending -= 1
        if call.qos:
            self._in_flight.discard(call.packet_id)  # type: ignore[arg-type]
        if self._state == _CLOSED:
            return _NOTHING
        self._now = self._clock()
        if error is None:
            if call.qos:
                self._acknowledge(call.packet_id, replaced)  # type: ignore[arg-type]
        else:
            self._sink_failed(call, error)
        if self._state != _CLOSED:
            if self._shutting_down:
                if not self._pending:
                    self._disconnect(SERVER_SHUTTING_DOWN, "server shutting down")
            elif self._blocked and self._pending < self._limits.receive_maximum:
                self._blocked = False
                # The peer was not read while blocked: its keep alive starts afresh.
                self._last_received = self._now
                self._drain()
        return self._effects()

    async def deliver(self, call: SinkCall) -> Effects:
        """Run one sink call with the injected sink and return the effects of its outcome."""
        try:
            if call.route == STATE:
                await self._channel.report(call.identity, call.payload)  # type: ignore[union-attr]
                stored = Stored(0)
            elif call.route == RESULT:
                await self._channel.answer(call.identity, call.command_id, call.payload)  # type: ignore[union-attr]
                stored = Stored(0)
            else:
                stored = await self._sink.publish(  # type: ignore[union-attr]
                    call.identity, call.payload, delivery_id=call.delivery_id, repeated=call.repeated)
        except GatewayError as exc:
            return self.delivery_done(call, exc)
        except Exception as exc:
            logger.exception("MQTT sink failed unexpectedly; treating it as unavailable")
            return self.delivery_done(call, exc)
        return self.delivery_done(call, replaced=stored.replaced)

    async def authenticate(self, call: AuthCall) -> Effects:
        """Check a CONNECT's credentials with the injected authenticator; return the effects of the answer."""
        try:
            identity = await self._authenticator.authenticate(call.username, call.password, call.client_id)
        except GatewayError as exc:
            return self.authenticated(call, error=exc)
        except Exception as exc:
            logger.exception("MQTT authenticator failed unexpectedly")
            return self.authenticated(call, error=exc)
        return self.authenticated(call, identity)

    async def run_control(self, call: ControlCall) -> Effects:
        """Run one device-channel call and return the effects of its outcome (failures are logged: the device gets
        what it missed when it subscribes or connects again)."""
        channel, identity = self._channel, self.identity
        try:
            if call.kind == "config":
                version, desired = await channel.config(identity)  # type: ignore[union-attr]
                return self.push_config(version, desired)
            if call.kind == "commands":
                return self.push_commands(await channel.pending(identity))  # type: ignore[union-attr]
            await channel.delivered(identity, call.command_id)  # type: ignore[union-attr]
        except Exception as exc:
            logger.warning("MQTT device channel call %s failed for device %s: %s", call.kind,
                           getattr(identity, "device_id", None), exc)
        return _NOTHING

    def push_config(self, version: int, desired) -> Effects:
        """Publish the desired state to a subscribed device unless it has this version (or a newer one)."""
        if self._state != _CONNECTED or self.outbound is None:
            return _NOTHING
        self._publish(self.outbound.config(version, desired))
        return self._effects()

    def push_commands(self, commands: list[dict]) -> Effects:
        """Publish commands (``Command.for_device()``) to a subscribed device, each once per session."""
        if self._state != _CONNECTED or self.outbound is None:
            return _NOTHING
        for command in commands:
            sent = self.outbound.command(command)
            self._publish(sent)
            if sent and sent[-1].qos == 0:  # at most once: it is delivered as it leaves
                self._control.append(ControlCall("delivered", command["id"]))
        return self._effects()

    def authenticated(self, call: AuthCall, identity: Identity | None = None,
                      error: BaseException | None = None) -> Effects:
        """Report the authenticator's answer to ``call``: an identity, or the error it raised."""
        if self._state != _AUTHENTICATING or call is not self._authentication:
            return _NOTHING
        self._now = self._clock()
        packet, self._connect, self._authentication = self._connect, None, None
        wall_now = self._wall_clock()
        if error is None and identity is not None and identity.expires_at is not None \
                and identity.expires_at <= wall_now:
            error = BadCredentials("token expired")
        if isinstance(error, BadCredentials):
            self._refuse(V3_BAD_CREDENTIALS, BAD_CREDENTIALS, "bad user name or password")
        elif isinstance(error, NotAuthorized):
            self._refuse(V3_NOT_AUTHORIZED, NOT_AUTHORIZED, "not authorized")
        elif isinstance(error, ServiceUnavailable):
            self._refuse(V3_SERVER_UNAVAILABLE, SERVER_UNAVAILABLE, "server unavailable, try again later")
        elif error is not None or identity is None:
            self._refuse(V3_SERVER_UNAVAILABLE, UNSPECIFIED_ERROR, "internal error")
        else:
            self._accept(packet, identity, call.client_id, wall_now)  # type: ignore[arg-type]
            self._drain()  # what the client sent after its CONNECT
        return self._effects()

    def hurry(self, timeout: float) -> Effects:
        """Shorten the CONNECT timeout to ``timeout`` seconds after the connection was accepted (the server is
        short of slots); a connection whose CONNECT has arrived keeps its time to authenticate."""
        if self._state == _AWAIT_CONNECT:
            self._connect_deadline = min(self._connect_deadline, self._opened + timeout)
        return self._effects()

    def timer(self) -> Effects:
        """Enforce the CONNECT timeout, keep alive and token expiry; call it at ``next_deadline``."""
        if self._state == _CLOSED:
            return _NOTHING
        self._now = now = self._clock()
        if self._state in (_AWAIT_CONNECT, _AUTHENTICATING):
            if now >= self._connect_deadline:
                self._close()
        elif self._expires is not None and now >= self._expires:
            self._disconnect(MAXIMUM_CONNECT_TIME, "the device token expired")
        elif (self._keep_alive and not (self._blocked or self._shutting_down)
              and now >= self._last_received + 1.5 * self._keep_alive):
            self._disconnect(KEEP_ALIVE_TIMEOUT, "keep alive timeout")
        return self._effects()

    def begin_shutdown(self) -> Effects:
        """Stop reading; disconnect (v5 0x8B) as soon as the publishes in flight are done."""
        if self._state == _CLOSED or self._shutting_down:
            return _NOTHING
        self._shutting_down = True
        self._now = self._clock()
        if self._state in (_AWAIT_CONNECT, _AUTHENTICATING):
            self._close()
        elif not self._pending:
            self._disconnect(SERVER_SHUTTING_DOWN, "server shutting down")
        return self._effects()

    def abort(self) -> Effects:
        """Disconnect now (v5 0x8B), abandoning the publishes in flight: the shutdown grace is over."""
        if self._state == _CLOSED:
            return _NOTHING
        self._disconnect(SERVER_SHUTTING_DOWN, "server shutting down")
        return self._effects()

    def take_over(self) -> Effects:
        """Disconnect (v5 0x8E) because the same device connected again with the same client id."""
        if self._state == _CLOSED:
            return _NOTHING
        self._disconnect(SESSION_TAKEN_OVER, "session taken over")
        return self._effects()

    def connection_lost(self) -> None:
        """Note that the transport is gone; later sink results are ignored."""
        self._state = _CLOSED

    # --- packets ----------------------------------------------------------------------------------------

    def _drain(self) -> None:
        decoder = self._decoder
        received = False
        try:
            while not self._blocked and self._state in (_AWAIT_CONNECT, _CONNECTED):
                packet = decoder.next_packet()
                if packet is None:
                    break
                received = True
                if self._state == _CONNECTED:
                    self._on_packet(packet)
                else:
                    self._on_connect(packet)  # type: ignore[arg-type]
        except UnsupportedProtocolVersionError as exc:
            if self._state == _AWAIT_CONNECT:
                self._refuse_version(exc.protocol_level)
            else:
                self._disconnect(PROTOCOL_ERROR, "second CONNECT")
        except MalformedPacketError as exc:
            self._disconnect(exc.reason_code, str(exc))
        if received:
            self._last_received = self._now

    def _on_packet(self, packet: Packet) -> None:
        kind = type(packet)
        if kind is Publish:
            self._on_publish(packet)  # type: ignore[arg-type]
        elif kind is PingReq:
            self._out.append(_PINGRESP)
        elif kind is Disconnect:
            self._close()
        elif kind is Subscribe:
            self._on_subscribe(packet)  # type: ignore[arg-type]
        elif kind is Unsubscribe:
            self._on_unsubscribe(packet)  # type: ignore[arg-type]
        elif kind is PubAck:
            self._on_puback(packet)  # type: ignore[arg-type]
        else:
            # CONNECT again, AUTH without enhanced authentication, acknowledgements of nothing we sent.
            self._disconnect(PROTOCOL_ERROR, f"unexpected {kind.__name__}")

    def _on_connect(self, packet: Connect) -> None:
        self.version = packet.protocol_level
        v5 = self.version == MQTT_5
        properties = packet.properties
        self._client_max_packet = properties.maximum_packet_size
        self._problem_information = properties.request_problem_information != 0
        if self._busy:
            return self._refuse(V3_SERVER_UNAVAILABLE, SERVER_BUSY, "server busy, try again later")
        client_id = packet.client_id
        if len(client_id) > self._limits.max_client_id_length or (
                not v5 and not client_id and not packet.clean_start):
            return self._refuse(V3_IDENTIFIER_REJECTED, CLIENT_ID_NOT_VALID, "client identifier not valid")
        if v5:
            if properties.authentication_method is not None:
                return self._refuse(0, BAD_AUTHENTICATION_METHOD, "enhanced authentication is not supported")
            if packet.will is not None and packet.will.qos == 2:
                return self._refuse(0, QOS_NOT_SUPPORTED, "QoS 2 is not supported")
            if packet.will is not None and packet.will.retain:
                return self._refuse(0, RETAIN_NOT_SUPPORTED, "retain is not supported")
        self._state = _AUTHENTICATING
        self._connect = packet
        self._authentication = self._to_authenticate = AuthCall(packet.username, packet.password, client_id)
        return None

    def _accept(self, packet: Connect, identity: Identity, client_id: str, wall_now: float) -> None:
        v5 = self.version == MQTT_5
        assigned = None
        if not client_id:
            client_id = assigned = f"auto-{secrets.token_hex(12)}"
        requested = packet.keep_alive
        keep_alive = self._limits.max_keep_alive
        if 0 < requested < keep_alive:
            keep_alive = requested
        resumed = self._open_session(packet, identity.device_id, client_id if not assigned else "")
        if v5:
            session_expiry = packet.properties.session_expiry_interval
            self._send(ConnAck(0, resumed, Properties(
                assigned_client_identifier=assigned,
                server_keep_alive=keep_alive if keep_alive != requested else None,
                session_expiry_interval=self.session_expiry if self.session_expiry != (session_expiry or 0) else None,
                receive_maximum=self._limits.receive_maximum,
                maximum_qos=1,
                retain_available=0,
                maximum_packet_size=self._limits.max_packet_size,
                topic_alias_maximum=0,
                # Wildcards: only the device's own ``commands/#`` or ``commands/+`` (with device control).
                wildcard_subscription_available=None if self._channel else 0,
                subscription_identifier_available=0,
                shared_subscription_available=0,
            )))
        else:
            self._out.append(_CONNACK_ACCEPTED_V3)
        self._state = _CONNECTED
        self._decoder.max_packet_size = self._limits.max_packet_size
        self.identity = identity
        self.client_id = client_id
        device_id = identity.device_id
        self._topics = frozenset((device_id, f"devices/{device_id}/telemetry"))
        self._keep_alive = keep_alive
        self._last_received = self._now
        if identity.expires_at is not None:
            self._expires = self._now + (identity.expires_at - wall_now)
        self._session = (device_id, client_id)
        if resumed:  # what was in flight goes again (DUP); what changed meanwhile is read afresh
            self._publish(self.outbound.resend())  # type: ignore[union-attr]
            self._control.extend(ControlCall(kind) for kind in sorted(self.outbound.subscriptions))  # type: ignore

    def _open_session(self, packet: Connect, device_id: str, client_id: str) -> bool:
        """Set up the outbound session (with a channel): a stored v5 one when the client resumes it, else a new one.
        Return whether one was resumed."""
        if self._channel is None:
            return False
        v5 = self.version == MQTT_5
        requested = packet.properties.session_expiry_interval or 0
        self.session_expiry = min(requested, self._limits.max_session_expiry) if v5 and client_id else 0
        outbound = None
        if v5 and client_id and not packet.clean_start and self._sessions is not None:
            outbound = self._sessions.take((device_id, client_id))
        if outbound is None and self._sessions is not None and client_id:
            self._sessions.take((device_id, client_id))  # Clean Start, or 3.1.1: an older session ends here
        client_maximum = packet.properties.receive_maximum or 0xFFFF
        self.outbound = outbound or Outbound(device_id, min(client_maximum, self._limits.receive_maximum))
        return outbound is not None

    def _on_publish(self, packet: Publish) -> None:
        v5 = self.version == MQTT_5
        qos = packet.qos
        if qos == 2:
            return self._disconnect(QOS_NOT_SUPPORTED, "QoS 2 is not supported")
        if v5:
            if packet.retain:
                return self._disconnect(RETAIN_NOT_SUPPORTED, "retain is not supported")
            properties = packet.properties
            if properties is not NO_PROPERTIES:
                if properties.topic_alias is not None:
                    return self._disconnect(TOPIC_ALIAS_INVALID, "topic aliases are not supported")
                if properties.subscription_identifiers:
                    return self._disconnect(PROTOCOL_ERROR, "subscription identifier in a client PUBLISH")
        route, command_id = self._route(packet.topic)
        if route is None:
            if v5 and qos:
                return self._send(PubAck(packet.packet_id, NOT_AUTHORIZED,  # type: ignore[arg-type]
                                         self._reason("topic not allowed for this device")))
            return self._disconnect(NOT_AUTHORIZED, "topic not allowed for this device")
        if self._expires is not None and self._now >= self._expires:
            return self._disconnect(MAXIMUM_CONNECT_TIME, "the device token expired")
        packet_id = packet.packet_id
        if qos:
            if packet_id in self._in_flight:
                if packet.dup and not v5:
                    return None  # a 3.1.1 resend of a publish in flight: its PUBACK will answer both
                return self._disconnect(PROTOCOL_ERROR, "packet identifier in use")
            self._in_flight.add(packet_id)  # type: ignore[arg-type]
        self._pending += 1
        delivery_id = f"{self.client_id}:{packet_id}" if qos else None
        self._deliveries.append(SinkCall(self.identity, packet.payload, qos, packet_id,  # type: ignore[arg-type]
                                         delivery_id, packet.dup, route, command_id))
        if self._pending >= self._limits.receive_maximum:
            self._blocked = True
        return None

    def _route(self, topic: str) -> tuple[str | None, str | None]:
        """Where a device's publish goes: (TELEMETRY | STATE | RESULT, the command id of a RESULT), or (None, None)
        for a topic it may not publish to."""
        if topic in self._topics:
            return TELEMETRY, None
        if self._channel is None:
            return None, None
        device_id = self.identity.device_id  # type: ignore[union-attr]
        if topic == f"devices/{device_id}/state":
            return STATE, None
        parts = topic.split("/")
        if len(parts) == 5 and parts[:3] == ["devices", device_id, "commands"] and parts[3] and parts[4] == "result":
            return RESULT, parts[3]
        return None, None

    def _on_subscribe(self, packet: Subscribe) -> None:
        v5 = self.version == MQTT_5
        if v5 and packet.properties.subscription_identifiers:
            return self._disconnect(SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
                                    "subscription identifiers are not supported")
        refused = NOT_AUTHORIZED if v5 else 0x80
        codes, kinds = [], []
        for subscription in packet.subscriptions:
            kind = None
            if self.outbound is not None:
                kind = subscription_kind(self.outbound.device_id, subscription.topic_filter)
            if kind is None:
                codes.append(refused)
            else:
                codes.append(self.outbound.subscribe(kind, subscription.qos))  # type: ignore[union-attr]
                kinds.append(kind)
        why = "only devices/<own id>/config and devices/<own id>/commands/# may be subscribed to"
        reason = self._reason(why if self._channel else "this gateway only ingests") if refused in codes else None
        self._send(SubAck(packet.packet_id, tuple(codes), reason or NO_PROPERTIES))
        # After the SUBACK: the current config and the pending commands, read off the event loop.
        self._control.extend(ControlCall(kind) for kind in dict.fromkeys(kinds))
        return None

    def _on_unsubscribe(self, packet: Unsubscribe) -> None:
        if self.version != MQTT_5:
            for topic_filter in packet.topic_filters:
                self._unsubscribe(topic_filter)
            return self._send(UnsubAck(packet.packet_id))
        codes = tuple(0 if self._unsubscribe(f) else NO_SUBSCRIPTION_EXISTED for f in packet.topic_filters)
        return self._send(UnsubAck(packet.packet_id, codes))

    def _unsubscribe(self, topic_filter: str) -> bool:
        if self.outbound is None:
            return False
        kind = subscription_kind(self.outbound.device_id, topic_filter)
        return kind is not None and self.outbound.unsubscribe(kind)

    def _on_puback(self, packet: PubAck) -> None:
        if self.outbound is None:
            return self._disconnect(PROTOCOL_ERROR, "unexpected PubAck")
        done, more = self.outbound.acknowledged(packet.packet_id)
        if done is not None and done.command_id is not None:
            self._control.append(ControlCall("delivered", done.command_id))
        self._publish(more)
        return None

    def _publish(self, publishes: list[Publish]) -> None:
        for publish in publishes:
            self._send(publish)

    def _sink_failed(self, call: SinkCall, error: BaseException) -> None:
        v5 = self.version == MQTT_5
        if isinstance(error, InvalidPayload):
            if call.qos:
                if v5:
                    self._send(PubAck(call.packet_id, PAYLOAD_FORMAT_INVALID,  # type: ignore[arg-type]
                                      self._reason(error.message)))
                else:
                    self._out.append(encode_puback(call.packet_id))  # type: ignore[arg-type]
        elif isinstance(error, RateLimited):
            if call.qos:
                if v5:
                    self._send(PubAck(call.packet_id, QUOTA_EXCEEDED,  # type: ignore[arg-type]
                                      self._reason("quota exceeded")))
                else:
                    self._close()
        elif isinstance(error, NotAuthorized):
            self._disconnect(NOT_AUTHORIZED, "the device token was revoked")
        else:
            self._disconnect(SERVER_BUSY, "server unavailable, try again later")

    # --- output -----------------------------------------------------------------------------------------

    def _acknowledge(self, packet_id: int, replaced: int) -> None:
        if replaced and self.version == MQTT_5 and self._problem_information:
            self._send(PubAck(packet_id, 0, Properties(user_properties=(("replaced", str(replaced)),))))
        else:
            self._out.append(encode_puback(packet_id))

    def _reason(self, text: str, always: bool = False) -> Properties:
        """A Reason String, unless the v5 client asked for none (it may still get one on CONNACK/DISCONNECT)."""
        if self.version != MQTT_5 or not (always or self._problem_information):
            return NO_PROPERTIES
        return Properties(reason_string=text)

    def _send(self, packet: Packet) -> None:
        data = encode(packet, self.version)
        limit = self._client_max_packet
        properties = getattr(packet, "properties", NO_PROPERTIES)
        if limit is not None and len(data) > limit and properties is not NO_PROPERTIES:
            # The client's Maximum Packet Size: leave out the Reason String (MQTT 5 §3.1.2.11.4).
            packet.properties = NO_PROPERTIES  # type: ignore[union-attr]
            data = encode(packet, self.version)
        self._out.append(data)

    def _refuse(self, v3_code: int, v5_code: int, text: str) -> None:
        if self.version == MQTT_5:
            self._send(ConnAck(v5_code, False, self._reason(text, always=True)))
        else:
            self._send(ConnAck(v3_code))
        self._close()

    def _refuse_version(self, protocol_level: int) -> None:
        # A client newer than MQTT 5 reads the v5 CONNACK; older ones only know the 3.1.1 shape.
        if protocol_level > MQTT_5:
            self._out.append(encode(ConnAck(UNSUPPORTED_PROTOCOL_VERSION), MQTT_5))
        else:
            self._out.append(encode(ConnAck(V3_UNACCEPTABLE_PROTOCOL), 4))
        self._close()

    def _disconnect(self, v5_code: int, text: str) -> None:
        """End the connection; a v5 client past CONNACK first gets a DISCONNECT saying why."""
        if self._state == _CONNECTED and self.version == MQTT_5:
            self._send(Disconnect(v5_code, self._reason(text, always=True)))
        self._close()

    def _close(self) -> None:
        self._state = _CLOSED
        self._close_requested = True

    def _effects(self) -> Effects:
        effects = Effects()
        if self._out:
            effects.send = self._out[0] if len(self._out) == 1 else b"".join(self._out)
            self._out = []
        if self._deliveries:
            effects.deliveries = self._deliveries
            self._deliveries = []
        if self._control:
            effects.control = self._control
            self._control = []
        if self._to_authenticate is not None:
            effects.authentication = self._to_authenticate
            self._to_authenticate = None
        if self._session is not None:
            effects.session = self._session
            self._session = None
        if self._state == _CLOSED:
            effects.close = self._close_requested
            self._close_requested = False
        else:
            paused = self._blocked or self._shutting_down or self._state == _AUTHENTICATING
            if paused != self._reading_paused:
                self._reading_paused = paused
                effects.reading = not paused
        return effects
