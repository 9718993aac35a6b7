"""Clients of the backing services, one per process, created on first use so nothing connects at import."""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from typing import Callable

from infra.config import Settings

logger = logging.getLogger(__name__)

ELASTICSEARCH_REQUEST_TIMEOUT = 10.0  # seconds per attempt
ELASTICSEARCH_MAX_RETRIES = 2  # further attempts after a timeout, a connection error or 429/502/503/504


class Clients:
    """The Firestore, Pub/Sub and Elasticsearch clients of one process, shared by every app it serves.

    Tests build one with their own settings (emulator addresses) or replace attributes with their own clients.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []

    @cached_property
    def firestore(self):
        """The Firestore client (the emulator when FIRESTORE_EMULATOR_HOST is set)."""
        from google.cloud import firestore

        with self._lock:
            client = firestore.Client(project=self.settings.project_id)
            self._closers.append(client.close)
            return client

    @cached_property
    def credentials_firestore(self):
        """The Firestore client of the credentials database (``IOT_CREDENTIALS_DATABASE``; api-users only)."""
        from google.cloud import firestore

        from infra.config import ConfigError

        if not self.settings.credentials_database:
            raise ConfigError("IOT_CREDENTIALS_DATABASE is not set: this service has no access to the credentials")
        with self._lock:
            client = firestore.Client(project=self.settings.project_id, database=self.settings.credentials_database)
            self._closers.append(client.close)
            return client

    @cached_property
    def publisher(self):
        """The telemetry-topic publisher (see infra.adapters.pubsub)."""
        from infra.adapters.pubsub import PubSubPublisher

        with self._lock:
            publisher = PubSubPublisher.from_settings(self.settings)
            self._closers.append(publisher.stop)
            return publisher

    @cached_property
    def control_bus(self):
        """The device-control nudge publisher (see infra.adapters.pubsub_control)."""
        from infra.adapters.pubsub_control import PubSubControlBus

        with self._lock:
            bus = PubSubControlBus.from_settings(self.settings)
            self._closers.append(bus.stop)
            return bus

    def at_close(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` at ``close()``, before the clients created so far are closed (e.g. a last flush)."""
        with self._lock:
            self._closers.append(closer)

    @cached_property
    def elasticsearch(self):
        """The Elasticsearch client (ELASTICSEARCH_URL, with ELASTICSEARCH_API_KEY when set).

        Timeouts keep a push's worst case inside its ack deadline (run/services.py PUSH_DEADLINE), so a slow cluster
        turns into a 503 and a redelivery, not an abandoned request.
        """
        from elasticsearch import Elasticsearch

        with self._lock:
            client = Elasticsearch(
                self.settings.elasticsearch_url,
                api_key=self.settings.elasticsearch_api_key,
                request_timeout=ELASTICSEARCH_REQUEST_TIMEOUT,
                max_retries=ELASTICSEARCH_MAX_RETRIES,
                retry_on_timeout=True,
                # One pooled connection per serving thread (services run up to 64 threads per worker).
                connections_per_node=64,
            )
            self._closers.append(client.close)
            return client

    def close(self) -> None:
        """Flush and close every client that was created (at worker exit)."""
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:  # one failing close must not keep the others open
                logger.warning("closing a client failed", exc_info=True)
