"""Ports of the MQTT gateway: how it authenticates devices and where their publishes go.

The protocol layer depends only on these; the gateway's wiring implements them with the device-token
verifier and the Pub/Sub publisher. Every error a port may raise derives from ``GatewayError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Protocol


class GatewayError(Exception):
    """Base of the errors the ports raise to tell the protocol layer how to answer."""


class BadCredentials(GatewayError):
    """The token is missing, malformed, badly signed or expired (CONNACK 0x04 / v5 0x86)."""


class NotAuthorized(GatewayError):
    """The token is valid but may not use this gateway, e.g. a revoked device (CONNACK 0x05 / v5 0x87)."""


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


class Authenticator(Protocol):
    """Turns CONNECT credentials into an identity, and says whether it still holds."""

    def authenticate(self, username: str | None, password: bytes | None, client_id: str) -> Identity:
        """Verify the credentials of a CONNECT.

        Raises:
            BadCredentials: no usable token.
            NotAuthorized: a good token that may not connect.
            ServiceUnavailable: the verifier cannot decide now.
        """
        ...

    def still_valid(self, identity: Identity) -> bool:
        """Tell whether the identity was not revoked since; called before each publish, so it must be cheap."""
        ...


class Sink(Protocol):
    """Where the readings of accepted publishes go (Pub/Sub in production)."""

    def publish(self, identity: Identity, payload: bytes) -> Awaitable[int]:
        """Ingest one publish of the device and return how many records it held, once they are durable.

        Raises:
            InvalidPayload: the payload was refused as a whole (the sink has recorded why).
            RateLimited: the device is over its quota.
            ServiceUnavailable: the readings could not be made durable; nothing was accepted.
        """
        ...
