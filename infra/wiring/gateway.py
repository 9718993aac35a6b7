"""Composition of a gateway process: the ingestion core (keys, device cache, publisher, limits, presence) and the
device's side of device control.

The keys are loaded at start (a bad key stops the process instead of failing every device); the Firestore and
Pub/Sub clients, and their SDKs, only when the first request needs them (``Deferred``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from infra.wiring.clients import Clients
from infra.config import Settings
from infra.usecases.desired_watch import DesiredWatch
from infra.usecases.device_control import DeviceControl
from infra.usecases.ingest import DeviceProfile, DeviceDirectory, Ingestor, Limits
from infra.usecases.live_sessions import LiveSessions
from infra.usecases.presence import PresenceRecorder, Submit
from infra.adapters.keys import load_public_keys
from infra.domain.telemetry import ReadingBounds
from infra.adapters.jwt_tokens import JwtVerifier
from infra.wiring.deferred import Deferred

if TYPE_CHECKING:
    from infra.adapters.firestore import FirestoreRepository
    from infra.adapters.firestore_control import FirestoreControl


def firestore_repository(clients: Clients) -> FirestoreRepository:
    """The repository on the process's Firestore client (built on first call)."""
    from infra.adapters.firestore import FirestoreRepository

    return FirestoreRepository(clients.firestore)


def control_store(clients: Clients) -> FirestoreControl:
    """Twins, commands and presence on the process's client of the device-control database (built on first call)."""
    from infra.adapters.firestore_control import FirestoreControl

    return FirestoreControl(clients.control_firestore)


def device_loader(repository: FirestoreRepository):
    """Load what ingestion needs of a device (two Firestore reads; the directory caches the result)."""

    def load(device_id: str) -> DeviceProfile | None:
        device = repository.get_device(device_id)
        if device is None:
            return None
        return DeviceProfile(device.id, device.owner_id, device.key_version, repository.sensor_types(device_id))

    return load


Loader = Callable[[str], DeviceProfile | None]


def build_ingestor(settings: Settings, clients: Clients, gateway: str, *,
                   wrap_loader: Callable[[Loader], Loader] | None = None,
                   presence_submit: Submit | None = None) -> Ingestor:
    """The Ingestor of one gateway process, verifying device tokens with public keys only, and noting every device
    it serves in the process's presence recorder (written once more at exit).

    ``wrap_loader`` wraps the device loader and ``presence_submit`` runs presence writes (gateway-mqtt keeps both
    off the event loop).
    """
    verifier = JwtVerifier(load_public_keys(settings), settings.token_issuer)
    load = device_loader(Deferred(lambda: firestore_repository(clients)))
    directory = DeviceDirectory(wrap_loader(load) if wrap_loader else load, ttl=settings.revocation_cache_ttl)
    bounds = ReadingBounds(max_age_ns=settings.reading_max_age_days * 86400 * 10**9,
                           max_ahead_ns=settings.reading_max_ahead_seconds * 10**9,
                           max_months=settings.reading_max_months)
    limits = Limits(max_body_bytes=settings.ingest_max_bytes, max_records=settings.ingest_max_records,
                    rate_per_second=settings.ingest_rate, burst=settings.ingest_burst, bounds=bounds)
    presence = PresenceRecorder(Deferred(lambda: control_store(clients)), settings.presence_interval,
                                submit=presence_submit)
    clients.at_close(presence.close)  # a last flush, before the clients close
    return Ingestor(verifier, directory, Deferred(lambda: clients.publisher), gateway, limits, presence=presence)


def build_device_control(clients: Clients, presence: PresenceRecorder | None) -> DeviceControl:
    """The device's side of device control for a gateway process, with its long-poll watch."""
    store = Deferred(lambda: control_store(clients))
    return DeviceControl(store, watch=DesiredWatch(store), presence=presence)


def build_live_sessions(clients: Clients, instance: str) -> LiveSessions:
    """The open sessions of a WebSocket or MQTT gateway process, fed by the listener on its own inbox in the
    device-control database (named after the process's presence ``instance``; started on the first connection,
    stopped at exit)."""

    def listener(on_nudge):
        from infra.adapters.firestore_inbox import InboxListener

        return InboxListener(clients.control_firestore, instance, on_nudge)

    live = LiveSessions(listener)
    clients.at_close(live.stop)  # before the Firestore client closes
    return live
