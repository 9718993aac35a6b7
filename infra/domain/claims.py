"""Who a token speaks for: the audiences, the verified claims, and the error a token that cannot be trusted raises.

Audiences: ``user`` (expires), ``device`` and ``consumer`` (long-lived, revocable: they carry the key version
``ver`` of their device or consumer, which rotation bumps; checking it is ``infra.usecases.revocation``'s job).
A token of one audience is refused everywhere else. Signing and verifying is the JWT adapter's
(``infra.adapters.jwt_tokens``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

USER, DEVICE, CONSUMER = "user", "device", "consumer"
AUDIENCES = (USER, DEVICE, CONSUMER)
LEEWAY_SECONDS = 30  # clock skew tolerated between issuer and verifier


class TokenError(Exception):
    """The token cannot be trusted for this use; ``reason`` is a stable code, the message is safe to show."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Claims:
    """The verified claims of a token."""

    subject: str
    audience: str
    issued_at: int
    expires_at: int | None
    token_id: str
    version: int | None = None  # key version of a device or consumer token
    role: str | None = None  # role of a user token at issue time

    def expired(self, now: float | None = None) -> bool:
        """True once ``exp`` (plus leeway) has passed."""
        return self.expires_at is not None and (now or time.time()) > self.expires_at + LEEWAY_SECONDS
