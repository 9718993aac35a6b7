"""Devices and sensors seeded in Firestore as the management API stores them, and the token issuer (fixtures).

Conftests that need them import the fixtures by name: ``from tests.support.devices import issuer, seed``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from dataclasses import dataclass

import pytest

from infra.adapters.keys import load_signing_key
from infra.adapters.jwt_tokens import JwtIssuer
from infra.domain.claims import DEVICE

SENSOR_TYPES = {"temp": "double", "count": "long", "door": "boolean", "label": "keyword"}
# Gateways of tests that replay fixed dates (the original README's 2018 reading, days of 2025) accept readings up to
# a century old: a fixed date would otherwise age out of the default bound. The bound itself is tested with its
# default in tests/unit/test_reading_identity.py and end to end in tests/gateways/test_reading_bounds.py.
FIXED_DATES_ENV = {"IOT_READING_MAX_AGE_DAYS": "36500"}


@dataclass
class SeededDevice:
    id: str
    owner_id: str
    sensors: dict[str, str]  # name → sensor id
    token: str


@pytest.fixture(scope="session")
def issuer(stack) -> JwtIssuer:
    """Signs tokens with the stack's development key, as the API does."""
    settings = stack.settings()
    return JwtIssuer(load_signing_key(settings), settings.token_issuer, settings.user_token_ttl)


@pytest.fixture
def seed(firestore_db, issuer):
    """Create a device with one sensor of each type, stored as the management API stores it."""

    def make(owner_id: str | None = None, *, token_ttl: int | None = None) -> SeededDevice:
        owner_id = owner_id or secrets.token_hex(6)
        device_id = secrets.token_hex(6)
        now = datetime.now(timezone.utc)  # listings of every device (an admin's) read these
        firestore_db.collection("devices").document(device_id).set(
            {"owner_id": owner_id, "name": "test device", "description": "", "key_version": 1,
             "created_at": now, "updated_at": now})
        sensors = {}
        for name, sensor_type in SENSOR_TYPES.items():
            sensor_id = secrets.token_hex(6)
            firestore_db.collection("sensors").document(sensor_id).set(
                {"device_id": device_id, "owner_id": owner_id, "name": name, "type": sensor_type,
                 "mapping": {"type": sensor_type}, "path": [], "created_at": now, "updated_at": now})
            sensors[name] = sensor_id
        token = issuer.issue(DEVICE, device_id, version=1, ttl=token_ttl)
        return SeededDevice(device_id, owner_id, sensors, token)

    return make
