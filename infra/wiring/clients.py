"""Clients of the backing services, one per process, created on first use so nothing connects at import."""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Callable

from infra.config import Settings

if TYPE_CHECKING:
    from run.permissions import Permissions

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
        self._finalizers: list[Callable[[], None]] = []  # at_close's, run before any client closes

    def for_service(self, name: str) -> Clients:
        """The clients the service ``name`` (a member of this process) uses.

        In a service process on the emulators (``IOT_SERVICE`` and an emulator host set), clients that refuse what
        the service's IAM row (run/permissions.py) does not allow, as IAM does in the cloud; elsewhere (Cloud Run,
        tests building apps in-process) these very clients.
        """
        settings = self.settings
        if not settings.service or not (settings.firestore_emulator_host or settings.pubsub_emulator_host):
            return self
        from run.permissions import PERMISSIONS

        return RoleClients(self, name, PERMISSIONS[name])

    @cached_property
    def firestore(self):
        """The Firestore client of the main database (``IOT_FIRESTORE_DATABASE``; the emulator when
        FIRESTORE_EMULATOR_HOST is set)."""
        return self._open_firestore(None)

    @cached_property
    def credentials_firestore(self):
        """The Firestore client of the credentials database (``IOT_CREDENTIALS_DATABASE``; api-users only)."""
        return self._open_named_database(self.settings.credentials_database, "IOT_CREDENTIALS_DATABASE",
                                         "the credentials")

    @cached_property
    def control_firestore(self):
        """The Firestore client of the device-control database (``IOT_CONTROL_DATABASE``: twins, commands and
        presence; api-users, api-devices and the gateways)."""
        return self._open_named_database(self.settings.control_database, "IOT_CONTROL_DATABASE",
                                         "devices' twins, commands and presence")

    def _open_named_database(self, database: str | None, variable: str, holding: str):
        from infra.config import ConfigError

        if not database:
            raise ConfigError(f"{variable} is not set: this service has no access to {holding}")
        return self._open_firestore(database)

    def _open_firestore(self, database: str | None):
        """A client of ``database``; None: the main database."""
        from google.cloud import firestore

        with self._lock:
            client = firestore.Client(project=self.settings.project_id,
                                      database=database or self.settings.firestore_database)
            self._closers.append(client.close)
            return client

    @cached_property
    def publisher(self):
        """The telemetry-topic publisher (see infra.adapters.pubsub)."""
        from infra.adapters.pubsub import PubSubPublisher

        with self._lock:
            publisher = PubSubPublisher.from_settings(self.settings, client=self._publisher_client())
            self._closers.append(publisher.stop)
            return publisher

    def _publisher_client(self):
        return None  # the publishers' own

    @cached_property
    def alerts_publisher(self):
        """The alerts-topic publisher of the rules service (see infra.adapters.pubsub)."""
        from infra.adapters.pubsub import PubSubPublisher

        with self._lock:
            publisher = PubSubPublisher(self.settings.project_id, self.settings.topology.alerts_topic,
                                        timeout=self.settings.publish_timeout, client=self._publisher_client())
            self._closers.append(publisher.stop)
            return publisher

    @cached_property
    def control_bus(self):
        """Nudges to the gateway instances, through their inboxes in the device-control database (see
        infra.adapters.firestore_inbox)."""
        from infra.adapters.firestore_inbox import FirestoreInbox

        return FirestoreInbox(self.control_firestore)

    def at_close(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` at ``close()``, before any client is closed (e.g. a last flush through a client that may be
        created only later, on first use)."""
        with self._lock:
            self._finalizers.append(closer)

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
        while self._finalizers or self._closers:
            closer = (self._finalizers or self._closers).pop()
            try:
                closer()
            except Exception:  # one failing close must not keep the others open
                logger.warning("closing a client failed", exc_info=True)


class RoleClients(Clients):
    """One service's clients in a process on the emulators: Firestore and Pub/Sub clients that refuse what its role
    does not allow (infra.wiring.local_iam); Elasticsearch's and the closing are the process's, shared."""

    def __init__(self, shared: Clients, service: str, permissions: Permissions):
        super().__init__(shared.settings)
        self._lock, self._closers, self._finalizers = shared._lock, shared._closers, shared._finalizers  # the process's close() closes these too
        self._shared = shared
        self.service = service
        self.permissions = permissions

    @property
    def elasticsearch(self):
        return self._shared.elasticsearch

    def _open_firestore(self, database: str | None):
        if not self.settings.firestore_emulator_host:
            return super()._open_firestore(database)
        from infra.wiring.local_iam import LocalIamFirestore

        with self._lock:
            # None is the main database, whatever its name (IOT_FIRESTORE_DATABASE): the row's `firestore` column.
            client = LocalIamFirestore(project=self.settings.project_id,
                                       database=database or self.settings.firestore_database,
                                       access=self.permissions.database_access(database), who=self.service)
            self._closers.append(client.close)
            return client

    def _publisher_client(self):
        if not self.settings.pubsub_emulator_host:
            return None
        from infra.adapters.pubsub import BATCH_SETTINGS
        from infra.wiring.local_iam import LocalIamPublisher

        return LocalIamPublisher(project=self.settings.project_id, topics=self.permissions.publishes,
                                 prefix=self.settings.pubsub_prefix, who=self.service, batch_settings=BATCH_SETTINGS)
