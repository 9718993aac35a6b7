"""Composition of the ingestion core for a gateway process: keys, device cache, publisher, limits."""

from __future__ import annotations

from infra.clients import Clients
from infra.config import Settings
from infra.ingest import Device, DeviceDirectory, Ingestor, Limits
from infra.keys import load_public_keys
from infra.tokens import TokenVerifier


def firestore_device_loader(clients: Clients):
    """Load a device and its sensors from Firestore (two reads; the directory caches the result)."""

    def load(device_id: str) -> Device | None:
        db = clients.firestore
        snapshot = db.collection("devices").document(device_id).get()
        if not snapshot.exists:
            return None
        device = snapshot.to_dict()
        sensors = {s.id: s.get("type") for s in
                   db.collection("sensors").where(filter=_field_equals("device_id", device_id)).stream()}
        return Device(device_id, device["owner_id"], int(device.get("key_version", 1)), sensors)

    return load


def _field_equals(field: str, value: str):
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(field, "==", value)


def build_ingestor(settings: Settings, clients: Clients, gateway: str) -> Ingestor:
    """The Ingestor of one gateway process, verifying device tokens with public keys only."""
    verifier = TokenVerifier(load_public_keys(settings), settings.token_issuer)
    directory = DeviceDirectory(firestore_device_loader(clients), ttl=settings.revocation_cache_ttl)
    limits = Limits(max_body_bytes=settings.ingest_max_bytes, max_records=settings.ingest_max_records,
                    rate_per_second=settings.ingest_rate, burst=settings.ingest_burst)
    return Ingestor(verifier, directory, clients.publisher, gateway, limits)
