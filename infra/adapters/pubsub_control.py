"""The ``ControlBus`` port on Pub/Sub: one nudge per new command or desired state, on topic ``device-control``.

data = JSON ``{"kind": "command" | "config", "device_id", ...body}``; attributes ``device_id`` and ``kind``, so a
gateway instance's subscription can be filtered without decoding. Every gateway instance holding sessions
subscribes on its own (docs/device-control.md); the store, not this bus, is the record: a nudge lost here is made
up for when the device polls or connects.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson
from google.cloud import pubsub_v1

from infra.adapters.pubsub import PubSubPublisher
from infra.config import Settings

# The API waits for the nudge's confirmation before it answers (on Cloud Run, work left after the answer may get no
# CPU), but not long: the command or desired state is stored already, and a device that missed the nudge gets it on
# its next poll or connect.
NUDGE_TIMEOUT = 2.0


class PubSubControlBus:
    """Publishes nudges through a ``PubSubPublisher`` bound to the control topic."""

    def __init__(self, publisher: PubSubPublisher):
        self.publisher = publisher

    @classmethod
    def from_settings(cls, settings: Settings, client: pubsub_v1.PublisherClient | None = None) -> "PubSubControlBus":
        """The bus on the control topic of ``settings`` (over ``client`` when given: local IAM's, on the emulator)."""
        return cls(PubSubPublisher(settings.project_id, settings.topology.control_topic, timeout=NUDGE_TIMEOUT,
                                   client=client))

    def publish(self, kind: str, device_id: str, body: Mapping[str, Any]) -> None:
        """Publish one nudge and wait for Pub/Sub's confirmation. Raises ``PublishError``."""
        data = orjson.dumps({"kind": kind, "device_id": device_id, **body})
        self.publisher.publish(data, device_id=device_id, kind=kind)

    def stop(self) -> None:
        """Flush and release the publisher (at worker exit)."""
        self.publisher.stop()
