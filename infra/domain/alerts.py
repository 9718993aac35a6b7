"""Alerts: what a rule's transition becomes, how a webhook delivery is signed, and the retry schedule. Pure, no I/O.

An alert is stored once (its id is the transition's, ``Transition.alert_id``), published on the ``alerts`` topic
and, when its rule has a webhook, POSTed there with the header ``X-IoT-Signature: sha256=<hex>``: the HMAC-SHA256
of the exact body with the rule's secret. A receiver recomputes it over the raw body and compares in constant time
(``verify_signature``), and drops repeated alert ids (delivery is at least once). Every attempt is logged on the
alert (``delivery.attempts``) with its status; after the last one fails the delivery is ``failed``, never dropped
silently.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from infra.domain.rules import Rule, Transition
from infra.domain.telemetry import format_timestamp

ALERT_SCHEMA = "alert/v1"  # the ``schema`` attribute of messages on the alerts topic
SIGNATURE_HEADER = "X-IoT-Signature"
ALERT_ID_HEADER = "X-IoT-Alert-Id"
PENDING, DELIVERED, FAILED, NO_WEBHOOK = "pending", "delivered", "failed", "none"


def new_secret() -> str:
    """A rule's webhook secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (constant-time comparison)."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header)


def backoff_delays(attempts: int, first: float) -> list[float]:
    """Seconds to wait before each retry: ``first``, doubling (attempts - 1 of them)."""
    return [first * 2**i for i in range(max(0, attempts - 1))]


@dataclass(frozen=True)
class Alert:
    """One fired or cleared alert of a rule, as stored, listed and sent."""

    id: str
    rule_id: str
    rule_name: str
    owner_id: str
    sensor_id: str
    device_id: str
    state: str  # fired or cleared
    at: str  # ISO-8601 event time of the transition
    value: float | None
    reason: str
    message_key: str  # the Pub/Sub message (or tick) that caused it

    @classmethod
    def of(cls, rule: Rule, transition: Transition, message_key: str) -> "Alert":
        """The alert of ``rule``'s ``transition``, caused by ``message_key``."""
        return cls(id=transition.alert_id, rule_id=rule.id, rule_name=rule.name, owner_id=rule.owner_id,
                   sensor_id=rule.sensor_id, device_id=rule.device_id, state=transition.kind,
                   at=format_timestamp(transition.at), value=transition.value, reason=transition.reason,
                   message_key=message_key)

    def event(self) -> dict:
        """What subscribers of the alerts topic and webhooks receive."""
        return {"id": self.id, "rule_id": self.rule_id, "rule_name": self.rule_name, "owner_id": self.owner_id,
                "sensor_id": self.sensor_id, "device_id": self.device_id, "state": self.state, "at": self.at,
                "value": self.value, "reason": self.reason}
