"""The process-wide Pub/Sub publisher: a publish returns only once Pub/Sub confirmed it."""

from __future__ import annotations

import concurrent.futures
import logging
import threading

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud import pubsub_v1

from infra.config import Settings
from infra.domain.ports import PublishError

logger = logging.getLogger(__name__)

# A request path waits for its own publish, so batches must close fast: 2 ms of batching costs little
# latency and still groups concurrent requests (the default 10 ms caps a thread at ~80 publishes/s).
BATCH_SETTINGS = pubsub_v1.types.BatchSettings(max_messages=500, max_bytes=4 * 1024 * 1024, max_latency=0.002)

_RETRYABLE = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.Aborted,
              gexc.ResourceExhausted, gexc.Unknown, gexc.Cancelled)


class PubSubPublisher:
    """The ``Publisher`` port: one PublisherClient per process, bound to one topic, with a bounded wait per publish."""

    def __init__(self, project_id: str, topic: str, *, timeout: float = 10.0,
                 client: pubsub_v1.PublisherClient | None = None):
        self.timeout = timeout
        self._client = client or pubsub_v1.PublisherClient(batch_settings=BATCH_SETTINGS)
        self.topic_path = self._client.topic_path(project_id, topic)
        # Retries inside the client stop at the same deadline, so nothing is still retrying after we gave up.
        self._retry = Retry(predicate=lambda exc: isinstance(exc, _RETRYABLE), initial=0.05, maximum=1.0,
                            multiplier=2.0, timeout=timeout)
        self._lock = threading.Lock()
        self._stopped = False

    @classmethod
    def from_settings(cls, settings: Settings,
                      client: pubsub_v1.PublisherClient | None = None) -> "PubSubPublisher":
        """Build the publisher for the telemetry topic of ``settings`` (over ``client`` when given)."""
        return cls(settings.project_id, settings.topology.topic, timeout=settings.publish_timeout, client=client)

    def publish_future(self, data: bytes, **attributes: str) -> concurrent.futures.Future:
        """Start a publish and return its future (a ``concurrent.futures.Future``, usable with asyncio)."""
        return self._client.publish(self.topic_path, data, retry=self._retry, timeout=self.timeout, **attributes)

    def publish(self, data: bytes, **attributes: str) -> str:
        """Publish one message and return its id once Pub/Sub confirmed it.

        Raises:
            PublishError: Pub/Sub is unreachable or refused the message within ``timeout`` seconds.
        """
        try:
            # Inside the try: a publisher stopped by a worker shutting down refuses at once, and that too must
            # reach the device as a retryable failure, not an internal error.
            return self.publish_future(data, **attributes).result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise PublishError(f"Pub/Sub did not confirm the publish within {self.timeout:g}s") from None
        except gexc.GoogleAPICallError as exc:
            raise PublishError(f"Pub/Sub refused the publish: {exc.message or exc}") from exc
        except Exception as exc:  # the client wraps transport failures in assorted types
            raise PublishError(f"Pub/Sub publish failed: {exc}") from exc

    def stop(self) -> None:
        """Flush pending batches and release the client (call once, at worker exit)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            self._client.stop()
        except Exception:  # stopping must never mask a shutdown in progress
            logger.warning("publisher stop failed", exc_info=True)
