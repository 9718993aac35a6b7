"""The objects schema-driven tests aim generated requests at: one user with a device, two sensors with readings, a
consumer granted one of them, and a token of each kind of caller."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from elasticsearch import Elasticsearch
from schemathesis.core.parameters import ParameterLocation

from infra.adapters.passwords import SCRYPT
from infra.usecases.accounts import ensure_admin
from infra.wiring.admin import admin_account
from emulators.api_client import ApiClient, ApiError
from infra.adapters.elasticsearch import build_document, bulk_index
from tests.api.conftest import PASSWORD
from tests.support.names import unique

READINGS = (("double", 21.5), ("keyword", "open"))  # (sensor type, value) of the two seeded sensors
READINGS_PER_SENSOR = 3


@dataclass
class SeededWorld:
    """Seeded objects of one user: ``ids`` maps a path parameter name to ids that exist, ``tokens`` a kind of caller
    (user, consumer, device, admin) to its token."""

    api: object  # tests.api.conftest.Api
    admin: ApiClient
    es: Elasticsearch
    owner: ApiClient | None = None
    ids: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, api, es_url: str) -> "SeededWorld":
        """Sign in the admin (re-created if a test wiped Firestore) and seed a world."""
        ensure_admin(api.repository, SCRYPT, admin_account(api.settings))
        admin = api.client()
        admin.signin(api.settings.admin_username, api.admin_password)
        world = cls(api, admin, Elasticsearch(es_url, request_timeout=30))
        world.seed()
        return world

    def seed(self) -> None:
        """Create and sign in a new owner, then its objects."""
        username = unique("schema").replace("-", "")
        self.admin.create_user(username, PASSWORD)
        self.owner = self.api.client()
        self.owner.signin(username, PASSWORD)
        self.seed_objects()

    def seed_objects(self) -> None:
        """Create the owner's device, its sensors (one in a group path) with readings, a consumer and a grant, and a
        command to the device."""
        owner, owner_id = self.owner, self.owner.me()["id"]
        device = owner.create_device("schema", "seeded for the schema tests")["id"]
        granted = owner.create_sensor(device, "temperature", {"type": "double", "unit": "°C"},
                                      path=["Water", "Boiler"])["id"]
        other = owner.create_sensor(device, "label", '{"type": "keyword"}')["id"]
        consumer = owner.create_consumer("dashboard")["id"]
        owner.grant(consumer, granted)
        command = owner.send_command(device, "reboot", {"delay": 5})["id"]
        now = time.time_ns()
        bulk_index(self.es, [build_document({"sensor_id": sensor, "type": kind, "value": value,
                                             "timestamp": now - i * 1_000_000_000},
                                            device_id=device, owner_id=owner_id, gateway="test",
                                            received_at="2026-01-01T00:00:00.000000000Z")
                             for sensor, (kind, value) in zip((granted, other), READINGS)
                             for i in range(READINGS_PER_SENSOR)])
        self.ids = {"user_id": [owner_id], "device_id": [device], "sensor_id": [granted, other],
                    "consumer_id": [consumer], "index": [granted, f"{granted},{other}", other],
                    "command_id": [command]}
        self.tokens = {"user": owner.token, "admin": self.admin.token,
                       "consumer": owner.consumer_key(consumer)["token"], "device": owner.device_key(device)["token"]}

    def aim(self, case) -> None:
        """Point a case's path parameters at seeded objects, and a grant at the sensor not granted yet, unless
        that is the part the case gets wrong on purpose."""
        def negative(location: ParameterLocation) -> bool:
            return case.meta is not None and case.meta.is_negative_at(location)

        if case.path_parameters and not negative(ParameterLocation.PATH):
            case.path_parameters = {name: self.ids[name][0] if name in self.ids else value
                                    for name, value in case.path_parameters.items()}
        if isinstance(case.body, dict) and "sensor_id" in case.body and not negative(ParameterLocation.BODY):
            case.body = {**case.body, "sensor_id": self.ids["sensor_id"][-1]}

    def after(self, case, response) -> None:
        """Replace what a request deleted (a new owner only when the owner went), so later cases still find it."""
        if case.method.upper() != "DELETE" or response.status_code not in (202, 204):
            return
        hit = {name for name, value in (case.path_parameters or {}).items() if value in self.ids.get(name, ())}
        if "user_id" in hit:
            self.seed()
        elif hit:
            try:
                self.seed_objects()
            except ApiError as exc:
                if exc.status != 401:
                    raise
                self.seed()  # the admin gave the owner a new password, which signed it out

    def close(self) -> None:
        self.es.close()
