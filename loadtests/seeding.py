"""Benchmark data: a device and sensors stored as the management API stores them, and a token signer."""

from __future__ import annotations

import secrets

from google.cloud import firestore

from infra.config import Settings
from infra.adapters.keys import load_signing_key
from infra.adapters.jwt_tokens import JwtIssuer


def signing_issuer(settings: Settings) -> JwtIssuer:
    """A token issuer with the stack's development key."""
    return JwtIssuer(load_signing_key(settings), settings.token_issuer, settings.user_token_ttl)


def seed_device(settings: Settings, sensor_types: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    """Create a device with the given sensors (name → type); return (device id, owner id, name → sensor id)."""
    db = firestore.Client(project=settings.project_id)
    owner_id, device_id = secrets.token_hex(6), secrets.token_hex(6)
    db.collection("devices").document(device_id).set({"owner_id": owner_id, "name": "bench", "key_version": 1})
    sensors = {}
    for name, sensor_type in sensor_types.items():
        sensor_id = secrets.token_hex(6)
        db.collection("sensors").document(sensor_id).set(
            {"device_id": device_id, "owner_id": owner_id, "name": name, "type": sensor_type})
        sensors[name] = sensor_id
    db.close()
    return device_id, owner_id, sensors
