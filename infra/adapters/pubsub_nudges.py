"""This gateway instance's own subscription on the device-control topic: every nudge api-devices publishes, handed to a
callback (``infra.usecases.live_sessions``), which delivers it to the device's sessions on this instance, if any.

The subscription is created when the instance first needs it (its first device connection) and deleted when the
process exits (gunicorn's worker exit, gateway-mqtt's shutdown, both after SIGTERM). One that outlives a killed
instance expires after a day without pulls (Pub/Sub's minimum), and its nudges after ``RETENTION``: a nudge matters
for seconds, and Firestore is the record (docs/device-control.md).

On Cloud Run the streaming pull gets CPU only while the instance serves a request; a gateway holding a WebSocket (or
MQTT over WebSocket) serves one for the socket's whole life, which is exactly when there is a device to nudge. An
instance without connections may stall the pull; nudges then wait in the subscription (or expire), and a device that
connects reads its commands and desired state from Firestore anyway.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

import orjson

logger = logging.getLogger(__name__)

EXPIRY = "86400s"  # an idle subscription (a killed instance's) is deleted by Pub/Sub after a day, the minimum
RETENTION = "600s"  # unacknowledged nudges are dropped after 10 minutes, the minimum
ACK_DEADLINE = 10  # seconds; a nudge is handed on at once and acknowledged whatever happens to it
MAX_OUTSTANDING = 1000  # nudges handed to the callback and not yet acknowledged
START_TIMEOUT = 5.0  # seconds creating the subscription may take (the first connection of the instance waits)


@dataclass(frozen=True)
class Nudge:
    """One nudge: a new command (``body["command"]``) or desired state (``body["version"]``, ``body["desired"]``)."""

    kind: str
    device_id: str
    body: dict[str, Any]


def parse_nudge(data: bytes) -> Nudge | None:
    """The nudge in a message's data, or None when it is not one (logged)."""
    try:
        decoded = orjson.loads(data)
        kind, device_id = decoded.pop("kind"), decoded.pop("device_id")
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        logger.warning("ignored a malformed device-control message")
        return None
    if not isinstance(kind, str) or not isinstance(device_id, str):
        logger.warning("ignored a malformed device-control message")
        return None
    return Nudge(kind, device_id, decoded)


class NudgeSubscriber:
    """Create this instance's subscription, stream nudges from it into ``on_nudge``, delete it on ``stop``.

    Args:
        client: a ``pubsub_v1.SubscriberClient``.
        on_nudge: called on the client's threads, once per nudge; it must not block for long.
    """

    def __init__(self, client, project: str, topic: str, subscription: str, on_nudge: Callable[[Nudge], None]):
        self.client = client
        self.topic = client.topic_path(project, topic) if "/" not in topic else topic
        self.subscription = client.subscription_path(project, subscription)
        self.on_nudge = on_nudge
        self._future = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether the subscription exists and is being pulled."""
        return self._future is not None

    def start(self) -> None:
        """Create the subscription (idempotent) and start pulling it. Raises Google's API errors."""
        from google.cloud import pubsub_v1

        with self._lock:
            if self._future is not None:
                return
            self.client.create_subscription(request={
                "name": self.subscription, "topic": self.topic, "ack_deadline_seconds": ACK_DEADLINE,
                "message_retention_duration": RETENTION, "expiration_policy": {"ttl": EXPIRY}},
                timeout=START_TIMEOUT)
            self._future = self.client.subscribe(
                self.subscription, self._received,
                flow_control=pubsub_v1.types.FlowControl(max_messages=MAX_OUTSTANDING))
            logger.info("receiving device-control nudges on %s", self.subscription)

    def stop(self) -> None:
        """Stop pulling and delete the subscription (at process exit); errors are logged, not raised."""
        from google.api_core.exceptions import NotFound

        with self._lock:
            future, self._future = self._future, None
            if future is None:
                return
            future.cancel()
            try:
                future.result(timeout=5)
            except Exception:  # cancelled: what ending a streaming pull answers
                pass
            try:
                self.client.delete_subscription(request={"subscription": self.subscription}, timeout=5)
            except NotFound:
                pass
            except Exception as exc:  # it expires by itself after a day
                logger.warning("deleting the nudge subscription %s failed: %s", self.subscription, exc)

    def _received(self, message) -> None:
        # Acknowledged first: a nudge is a hint, and a redelivered one would only be dropped as already sent.
        message.ack()
        nudge = parse_nudge(message.data)
        if nudge is None:
            return
        try:
            self.on_nudge(nudge)
        except Exception:
            logger.exception("handling a device-control nudge failed")
