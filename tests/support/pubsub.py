"""Read what reached the telemetry topic, through a test subscription on the Pub/Sub emulator."""

from __future__ import annotations

import time

import orjson
from google.cloud import pubsub_v1

from tests.support.names import unique


class TelemetryTap:
    """A pull subscription on ``telemetry`` created by a test; it sees messages published after it exists."""

    def __init__(self, project: str, topic: str = "telemetry"):
        self.subscriber = pubsub_v1.SubscriberClient()
        self.path = self.subscriber.subscription_path(project, unique("tap"))
        self.subscriber.create_subscription(name=self.path, topic=f"projects/{project}/topics/{topic}",
                                            ack_deadline_seconds=60)
        self._seen: list[dict] = []

    def _pull(self, wait: float) -> None:
        try:
            response = self.subscriber.pull(subscription=self.path, max_messages=100, timeout=wait)
        except Exception:  # DeadlineExceeded when nothing arrived in time
            return
        if response.received_messages:
            self.subscriber.acknowledge(subscription=self.path,
                                        ack_ids=[m.ack_id for m in response.received_messages])
        for received in response.received_messages:
            self._seen.append({"data": orjson.loads(received.message.data),
                               "attributes": dict(received.message.attributes),
                               "message_id": received.message.message_id})

    def messages(self, device_id: str, count: int, timeout: float = 20.0) -> list[dict]:
        """Wait until ``count`` messages of ``device_id`` arrived; return them (oldest first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = [m for m in self._seen if m["attributes"].get("device_id") == device_id]
            if len(mine) >= count:
                return mine
            self._pull(min(5.0, max(0.5, deadline - time.monotonic())))
        mine = [m for m in self._seen if m["attributes"].get("device_id") == device_id]
        raise AssertionError(f"expected {count} messages of {device_id}, got {len(mine)}")

    def settle(self, device_id: str, wait: float = 3.0) -> list[dict]:
        """Everything of ``device_id`` that arrived within ``wait`` seconds (to prove nothing more came)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self._pull(max(0.2, deadline - time.monotonic()))
        return [m for m in self._seen if m["attributes"].get("device_id") == device_id]

    def close(self) -> None:
        self.subscriber.delete_subscription(subscription=self.path)
        self.subscriber.close()
