"""Rejected telemetry: what can never be stored, kept where its owner can see it (never dropped silently).

A rejection is one refused message or one refused record of a message. Its id is derived from the message (its
Pub/Sub publish time, id and the refused part), so recording the same rejection again, after a redelivery,
overwrites instead of duplicating; ids start with the inverted publish time, so id order is newest first.
Rejections are kept for ``RETENTION``. The store is a port (``infra.domain.ports.RejectionStore``); the pipeline
alone writes it, gateways report their refusals to it through Pub/Sub (``REFUSAL_SCHEMA``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

# The ``schema`` attribute of a gateway's report of a request it refused, published on the telemetry topic for the
# pipeline to record: the gateways' IAM role reads Firestore only (run/permissions.py).
REFUSAL_SCHEMA = "refusal/v1"
SAMPLE_CHARS = 512  # a refused message is kept only as a truncated sample
RETENTION = timedelta(days=30)
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 500
_INVERT_NS = 10**19  # publish times in ns stay below this until the year 2286
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.:-]")


@dataclass(frozen=True)
class Rejection:
    """One refused message, or one refused record of a message (``part`` says which: ``message`` or ``record-N``)."""

    reason: str
    message_id: str
    published_at: datetime  # when Pub/Sub received the message: the same on every redelivery
    part: str = "message"
    owner_id: str | None = None
    device_id: str | None = None
    sensor_id: str | None = None
    sample: str = ""
    source: str = "pipeline"

    @property
    def id(self) -> str:
        """The document id: newest-first order, and the same for the same message and part."""
        ns = int(self.published_at.timestamp()) * 10**9 + self.published_at.microsecond * 1000
        name = _UNSAFE_ID.sub("_", f"{self.message_id}.{self.part}")[:200]
        return f"{_INVERT_NS - ns:019d}.{self.source}.{name}"


def truncate(text: str, limit: int = SAMPLE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"
