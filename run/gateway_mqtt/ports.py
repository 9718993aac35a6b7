"""Ports of the MQTT gateway: how it authenticates devices and where their publishes go.

The protocol layer depends only on these; the gateway's wiring implements them with the device-token
verifier and the Pub/Sub publisher. Every error a port may raise derives from ``GatewayError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Protocol


class GatewayError(Exception):
    """Base of the errors the ports raise to tell the protocol layer how to answer."""


class BadCredentials(GatewayError):
    """The token is missing, malformed, badly signed or expired (CONNACK 0x04 / v5 0x86)."""


class NotAuthorized(GatewayError):
    """The token is valid but may not use this gateway, e.g. a revoked device (CONNACK 0x05 / v5 0x87; after
    CONNECT, DISCONNECT 0x87)."""


class ServiceUnavailable(GatewayError):
    """A backend (key store, Pub/Sub) is down; the client should retry later and nothing is lost."""


class RateLimited(GatewayError):
    """The device sends faster than it may (v5 PUBACK 0x97 Quota exceeded)."""


class InvalidPayload(GatewayError):
    """The payload is not an acceptable set of readings; ``message`` says why, for the device."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Identity(Protocol):
    """Who a connection authenticated as: what the protocol layer needs of it."""

    @property
    def device_id(self) -> str:
        """The device the token was issued to (the token's ``sub``)."""
        ...

    @property
    def expires_at(self) -> float | None:
        """When the token expires, in seconds since the epoch; None if it does not."""
        ...


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """A plain ``Identity``; an authenticator may return any object with these two attributes."""

    device_id: str
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """What a sink made durable of one publish: its records, and how many of them a later record of the same
    publish replaced (same sensor and time)."""

    records: int
    replaced: int = 0


class Authenticator(Protocol):
    """Turns CONNECT credentials into an identity."""

    def authenticate(self, username: str | None, password: bytes | None, client_id: str) -> Awaitable[Identity]:
        """Verify the credentials of a CONNECT (it may wait for a key store, never block the event loop).

        Raises:
            BadCredentials: no usable token.
            NotAuthorized: a good token that may not connect.
            ServiceUnavailable: the verifier cannot decide now.
        """
        ...


class Sink(Protocol):
    """Where the readings of accepted publishes go (Pub/Sub in production)."""

    def publish(self, identity: Identity, payload: bytes, *, delivery_id: str | None = None,
                repeated: bool = False) -> Awaitable[Stored]:
        """Ingest one publish of the device once it is durable, without blocking the event loop.

        ``delivery_id`` names a QoS 1 publish (client id and packet id) the client may send again after a
        lost PUBACK, then with ``repeated`` (DUP) set: the sink stores such a resend of the same payload once.

        Raises:
            InvalidPayload: the payload was refused as a whole (the sink has recorded why).
            RateLimited: the device is over its quota.
            NotAuthorized: the device's token was revoked since it connected.
            ServiceUnavailable: the readings could not be made durable; nothing was accepted.
        """
        ...


class DeviceChannel(Protocol):
    """The device's side of device control (twin and commands) for its MQTT connection; every call may wait for
    Firestore, never blocking the event loop. Each raises ``InvalidPayload`` for a refused input (with the reason)
    and ``ServiceUnavailable`` when the store cannot answer."""

    def config(self, identity: Identity) -> Awaitable[tuple[int, Any]]:
        """The device's desired state: (version, document)."""
        ...

    def pending(self, identity: Identity) -> Awaitable[list[dict[str, Any]]]:
        """The device's unanswered, unexpired commands (``Command.for_device()``), oldest first."""
        ...

    def delivered(self, identity: Identity, command_id: str) -> Awaitable[None]:
        """Mark a command delivered (the device acknowledged it, or it went out at QoS 0)."""
        ...

    def report(self, identity: Identity, payload: bytes) -> Awaitable[None]:
        """Merge a publish on ``devices/<id>/state`` into the reported state."""
        ...

    def answer(self, identity: Identity, command_id: str, payload: bytes) -> Awaitable[None]:
        """Record a publish on ``devices/<id>/commands/<command_id>/result``."""
        ...

    def opened(self, identity: Identity, session: str) -> Awaitable[None]:
        """Record that the device holds this connection (its status)."""
        ...

    def closed(self, identity: Identity, session: str) -> Awaitable[None]:
        """Record that the connection ended."""
        ...
