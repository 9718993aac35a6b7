"""In-memory fakes of the ports (``infra.domain.ports``) for unit tests of the use cases: no emulator, no I/O.

``InMemoryRepository`` behaves as ``infra.adapters.firestore.FirestoreRepository`` does, down to the cascades,
the duplicates refused, paging by id and the sign-in throttle; ``tests/integration/test_repository_contract.py``
runs the same scenarios against both, so a divergence fails there. ``InMemoryControl`` is the same for
``infra.adapters.firestore_control.FirestoreControl`` (``tests/integration/test_control_store_contract.py``). Not
thread-safe: for single-threaded tests.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import time
from dataclasses import MISSING, fields
from typing import Any, Callable, Collection, Mapping, Sequence, TypeVar

from infra.domain.claims import AUDIENCES, CONSUMER, DEVICE, USER, Claims, TokenError
from infra.domain.control import OPEN_STATUSES, Command, Sighting, Status, Twin, live_instances, session_status
from infra.domain.ports import PublishError
from infra.domain.model import (USERNAME_PATTERN, Consumer, Device, DuplicateError, Grant, KeyHolder, Page,
                                PageRequest, Sensor, User, grant_id, utc_now, valid_id)

T = TypeVar("T")
Record = dict[str, Any]

# The Firestore collections, each a map from document id to the stored fields (the id is not among them).
USERS, USERNAMES, DEVICES, SENSORS = "users", "usernames", "devices", "sensors"
CONSUMERS, GRANTS, SIGNIN_THROTTLE = "consumers", "grants", "signin_throttle"
BOOTSTRAP, CREDENTIALS = "bootstrap", "credentials"

# Per audience: the type, its collection, and (collection, field) of what is deleted with it, in order.
_HOLDERS: dict[str, tuple[type[KeyHolder], str, tuple[tuple[str, str], ...]]] = {
    DEVICE: (Device, DEVICES, ((SENSORS, "device_id"), (GRANTS, "device_id"))),
    CONSUMER: (Consumer, CONSUMERS, ((GRANTS, "consumer_id"),)),
}


class InMemoryRepository:
    """The ``Repository`` port in dictionaries shaped like the Firestore collections.

    Objects are stored as copies of their fields and read back into new objects, as from Firestore, so changing
    a returned object (or its ``mapping``) never changes what is stored, and listings come in document-id order.
    """

    def __init__(self):
        self.collections: dict[str, dict[str, Record]] = {name: {} for name in (
            USERS, USERNAMES, DEVICES, SENSORS, CONSUMERS, GRANTS, SIGNIN_THROTTLE, BOOTSTRAP, CREDENTIALS)}

    # ---- users ---------------------------------------------------------------------------------------------

    def get_user(self, user_id: str) -> User | None:
        return self._get(USERS, user_id, User)

    def get_user_by_username(self, username: str) -> User | None:
        if not isinstance(username, str) or USERNAME_PATTERN.fullmatch(username) is None:
            return None
        entry = self.collections[USERNAMES].get(username)
        return None if entry is None else self.get_user(entry["user_id"])

    def create_user(self, user: User, password_hash: str) -> None:
        # Firestore commits the user and its username entry together, failing if either exists; the password hash
        # (in the credentials' database) is stored only then.
        if (user.username in self.collections[USERNAMES] or user.id in self.collections[USERS]
                or user.id in self.collections[CREDENTIALS]):
            raise DuplicateError(user.username)
        self.collections[USERNAMES][user.username] = {"user_id": user.id}
        self._put(USERS, user)
        self.collections[CREDENTIALS][user.id] = {"password_hash": password_hash}

    def update_user(self, user_id: str, changes: dict[str, Any], *, password_hash: str | None = None) -> bool:
        if not self._update(USERS, user_id, changes):
            return False
        if password_hash is not None:
            self.collections[CREDENTIALS][user_id] = {"password_hash": password_hash}
        return True

    def get_password_hash(self, user_id: str) -> str | None:
        return self.collections[CREDENTIALS].get(user_id, {}).get("password_hash") if valid_id(user_id) else None

    def list_users(self, page: PageRequest) -> Page[User]:
        return self._page(USERS, lambda record: True, page, User)

    def delete_user(self, user_id: str) -> bool:
        user = self.get_user(user_id)
        if user is None:
            return False
        del self.collections[USERS][user_id]
        del self.collections[USERNAMES][user.username]
        self.collections[CREDENTIALS].pop(user_id, None)
        for collection in (DEVICES, CONSUMERS, SENSORS, GRANTS):
            self._delete_where(collection, "owner_id", user_id)
        return True

    # ---- key holders: devices and consumers -------------------------------------------------------------------

    def get_holder(self, audience: str, holder_id: str) -> KeyHolder | None:
        kind, collection, _ = _HOLDERS[audience]
        return self._get(collection, holder_id, kind)

    def get_device(self, device_id: str) -> Device | None:
        return self.get_holder(DEVICE, device_id)

    def get_consumer(self, consumer_id: str) -> Consumer | None:
        return self.get_holder(CONSUMER, consumer_id)

    def create_holder(self, holder: KeyHolder) -> None:
        collection = _HOLDERS[holder.audience][1]
        if holder.id in self.collections[collection]:
            # Firestore raises google.api_core's AlreadyExists here (ids are random, so it does not happen).
            raise DuplicateError(holder.id)
        self._put(collection, holder)

    def update_holder(self, audience: str, holder_id: str, changes: dict[str, Any]) -> bool:
        return self._update(_HOLDERS[audience][1], holder_id, changes)

    def list_holders(self, audience: str, owner_id: str | None, page: PageRequest) -> Page[KeyHolder]:
        kind, collection, _ = _HOLDERS[audience]
        return self._page(collection, lambda record: owner_id is None or record["owner_id"] == owner_id, page, kind)

    def delete_holder(self, audience: str, holder_id: str) -> bool:
        _, collection, dependents = _HOLDERS[audience]
        if self.collections[collection].pop(holder_id, None) is None:
            return False
        for dependent, field_name in dependents:
            self._delete_where(dependent, field_name, holder_id)
        return True

    def bump_key(self, audience: str, holder_id: str) -> int | None:
        record = self.collections[_HOLDERS[audience][1]].get(holder_id) if valid_id(holder_id) else None
        if record is None:
            return None
        record.update(key_version=int(record["key_version"]) + 1, updated_at=utc_now())
        return record["key_version"]

    # ---- sensors -------------------------------------------------------------------------------------------

    def get_sensor(self, sensor_id: str) -> Sensor | None:
        return self._get(SENSORS, sensor_id, Sensor)

    def readable_sensors(self, sensor_ids: Sequence[str], granted_to: str | None = None) -> dict[str, Sensor]:
        if granted_to is not None and not valid_id(granted_to):
            return {}
        found = {}
        for sensor_id in dict.fromkeys(sensor_ids):
            sensor = self.get_sensor(sensor_id)
            if sensor is not None and (granted_to is None or self.has_grant(granted_to, sensor_id)):
                found[sensor_id] = sensor
        return found

    def create_sensor(self, device_id: str, build: Callable[[Device], Sensor]) -> Sensor | None:
        device = self.get_device(device_id)
        if device is None:
            return None
        sensor = build(device)  # may raise: then nothing is stored
        if sensor.id in self.collections[SENSORS]:
            raise DuplicateError(sensor.id)  # Firestore: AlreadyExists, as in create_holder
        self._put(SENSORS, sensor)
        return sensor

    def update_sensor(self, sensor_id: str, changes: dict[str, Any]) -> bool:
        return self._update(SENSORS, sensor_id, changes)

    def list_sensors(self, device_id: str, page: PageRequest) -> Page[Sensor]:
        return self._page(SENSORS, lambda record: record["device_id"] == device_id, page, Sensor)

    def sensors_of_device(self, device_id: str) -> list[Sensor]:
        return [_load(Sensor, sensor_id, record) for sensor_id, record in self._where(SENSORS, "device_id", device_id)]

    def sensor_types(self, device_id: str) -> dict[str, str]:
        return {sensor_id: record["type"] for sensor_id, record in self._where(SENSORS, "device_id", device_id)}

    def delete_sensor(self, sensor_id: str) -> bool:
        if self.collections[SENSORS].pop(sensor_id, None) is None:
            return False
        self._delete_where(GRANTS, "sensor_id", sensor_id)
        return True

    # ---- grants --------------------------------------------------------------------------------------------

    def create_grant(self, grant: Grant) -> bool:
        if grant.consumer_id not in self.collections[CONSUMERS] or grant.sensor_id not in self.collections[SENSORS]:
            return False
        if grant.id in self.collections[GRANTS]:
            raise DuplicateError(grant.id)
        self._put(GRANTS, grant)
        return True

    def delete_grant(self, consumer_id: str, sensor_id: str) -> bool:
        if not (valid_id(consumer_id) and valid_id(sensor_id)):
            return False
        return self.collections[GRANTS].pop(grant_id(consumer_id, sensor_id), None) is not None

    def has_grant(self, consumer_id: str, sensor_id: str) -> bool:
        if not (valid_id(consumer_id) and valid_id(sensor_id)):
            return False
        return grant_id(consumer_id, sensor_id) in self.collections[GRANTS]

    def granted_sensor_ids(self, consumer_id: str) -> list[str]:
        return [record["sensor_id"] for _, record in self._where(GRANTS, "consumer_id", consumer_id)]

    def granted_sensors(self, consumer_id: str, page: PageRequest) -> Page[Sensor]:
        # Paged by grant id, as in Firestore: the cursor is a grant id, and grants of deleted sensors are skipped.
        grants = self._page(GRANTS, lambda record: record["consumer_id"] == consumer_id, page, Grant)
        sensors = [self.get_sensor(grant.sensor_id) for grant in grants.items]
        return Page([sensor for sensor in sensors if sensor is not None], grants.next_cursor)

    # ---- sign-in throttle ----------------------------------------------------------------------------------

    def reserve_signin_attempt(self, key: str, now: float, window: float, limit: int) -> float | None:
        stored = self.collections[SIGNIN_THROTTLE].get(key, {"attempts": []})
        attempts = [t for t in stored["attempts"] if t > now - window]
        if len(attempts) >= limit:
            return min(attempts) + window - now
        self.collections[SIGNIN_THROTTLE][key] = {"attempts": attempts + [now]}
        return None

    def clear_signin_attempts(self, key: str) -> None:
        self.collections[SIGNIN_THROTTLE].pop(key, None)

    def signin_address_known(self, user_key: str, address_key: str) -> bool:
        return address_key in self.collections[SIGNIN_THROTTLE].get(f"known-{user_key}", {}).get("addresses", [])

    def remember_signin_address(self, user_key: str, address_key: str, now: float) -> None:
        record = self.collections[SIGNIN_THROTTLE].setdefault(f"known-{user_key}", {"addresses": []})
        addresses = [a for a in record["addresses"] if a != address_key] + [address_key]
        record["addresses"] = addresses[-10:]  # the latest ten, as FirestoreRepository keeps

    # ---- bootstrap -----------------------------------------------------------------------------------------

    def bootstrapped(self, step: str) -> bool:
        return step in self.collections[BOOTSTRAP]

    def mark_bootstrapped(self, step: str) -> None:
        self.collections[BOOTSTRAP][step] = {}

    # ---- helpers -------------------------------------------------------------------------------------------

    def _get(self, collection: str, object_id: str, kind: type[T]) -> T | None:
        record = self.collections[collection].get(object_id) if valid_id(object_id) else None
        return None if record is None else _load(kind, object_id, record)

    def _put(self, collection: str, obj: Any) -> None:
        record = copy.deepcopy(vars(obj))
        self.collections[collection][record.pop("id", None) or obj.id] = record

    def _update(self, collection: str, object_id: str, changes: dict[str, Any]) -> bool:
        record = self.collections[collection].get(object_id) if valid_id(object_id) else None
        if record is None:
            return False
        record.update(copy.deepcopy(changes))
        return True

    def _where(self, collection: str, field_name: str, value: str) -> list[tuple[str, Record]]:
        """(id, record) of the documents whose ``field_name`` is ``value``, in id order (Firestore's default)."""
        return sorted((object_id, record) for object_id, record in self.collections[collection].items()
                      if record.get(field_name) == value)

    def _delete_where(self, collection: str, field_name: str, value: str) -> None:
        for object_id, _ in self._where(collection, field_name, value):
            del self.collections[collection][object_id]

    def _page(self, collection: str, matches: Callable[[Record], bool], page: PageRequest,
              kind: type[T]) -> Page[T]:
        ids = sorted(object_id for object_id, record in self.collections[collection].items() if matches(record)
                     and (not page.cursor or object_id > page.cursor))
        more = len(ids) > page.limit
        ids = ids[:page.limit]
        return Page([_load(kind, object_id, self.collections[collection][object_id]) for object_id in ids],
                    ids[-1] if more else None)


def _load(kind: type[T], object_id: str, record: Record) -> T:
    """A new object of ``kind`` from a stored record; a field missing from it reads as its default."""
    values = {f.name: copy.deepcopy(record.get(f.name, None if f.default is MISSING else f.default))
              for f in fields(kind)}
    if "id" in values:  # the document id (a grant's is derived from its fields instead)
        values["id"] = object_id
    return kind(**values)


class FakePasswords:
    """The ``PasswordHasher`` port, instant and deterministic (not scrypt). ``verifications`` counts the checks,
    so a test can see that an unknown username costs one just like a wrong password."""

    def __init__(self):
        self.verifications = 0

    def hash(self, password: str) -> str:
        return "sha256$" + hashlib.sha256(password.encode()).hexdigest()

    def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return hmac.compare_digest(password_hash, self.hash(password))

    def spend_verification_time(self, password: str) -> None:
        self.verify(self.hash(""), password)


class FakeTokens:
    """The ``TokenIssuer`` and ``TokenVerifier`` ports: tokens are opaque serial strings, remembered with their
    claims (``issued``), and verified by audience and expiry as the JWT adapter does."""

    def __init__(self, user_ttl: int = 3600):
        self.user_ttl = user_ttl
        self.issued: dict[str, Claims] = {}

    def issue(self, audience: str, subject: str, *, version: int | None = None, role: str | None = None,
              ttl: int | None = None) -> str:
        if audience not in AUDIENCES:
            raise ValueError(f"unknown audience {audience!r}")
        ttl = ttl or (self.user_ttl if audience == USER else None)
        now = int(time.time())
        token = f"fake-token-{len(self.issued) + 1}"
        self.issued[token] = Claims(subject=subject, audience=audience, issued_at=now,
                                    expires_at=now + ttl if ttl else None, token_id=token, version=version, role=role)
        return token

    def verify(self, token: str, audience: str) -> Claims:
        claims = self.issued.get(token)
        if claims is None:
            raise TokenError("malformed", "the token is not one this issuer made")
        if claims.audience != audience:
            raise TokenError("wrong_audience", f"this is a {claims.audience} token; a {audience} token is needed")
        if claims.expired():
            raise TokenError("expired", "the token has expired")
        return claims


class InMemoryControl:
    """The ``ControlStore`` port in dictionaries: twins and commands stored as copies, presence as Firestore keeps
    it (``last_seen`` and a map of sessions), commands listed in id order (newest first, as their ids sort)."""

    def __init__(self):
        self.twins: dict[str, Twin] = {}
        self.commands: dict[str, Command] = {}
        self.presence: dict[str, dict[str, Any]] = {}

    def get_twin(self, device_id: str) -> Twin | None:
        return copy.deepcopy(self.twins.get(device_id))

    def get_twins(self, device_ids: Sequence[str]) -> dict[str, Twin]:
        return {i: copy.deepcopy(self.twins[i]) for i in device_ids if i in self.twins}

    def update_twin(self, device_id: str, owner_id: str, change: Callable[[Twin], Twin]) -> Twin:
        twin = change(self.get_twin(device_id) or Twin(device_id, owner_id))  # may raise: nothing stored
        self.twins[device_id] = copy.deepcopy(twin)
        return twin

    def create_command(self, command: Command) -> None:
        if command.id in self.commands:
            raise DuplicateError(command.id)  # Firestore: AlreadyExists
        self.commands[command.id] = copy.deepcopy(command)

    def get_command(self, command_id: str) -> Command | None:
        return copy.deepcopy(self.commands.get(command_id))

    def update_command(self, command_id: str, change: Callable[[Command], Command]) -> Command | None:
        command = self.get_command(command_id)
        if command is None:
            return None
        command = change(command)
        self.commands[command_id] = copy.deepcopy(command)
        return command

    def list_commands(self, device_id: str, page: PageRequest,
                      statuses: Sequence[str] | None = None) -> Page[Command]:
        ids = sorted(i for i, c in self.commands.items() if c.device_id == device_id
                     and (not statuses or c.status in statuses) and (not page.cursor or i > page.cursor))
        more = len(ids) > page.limit
        ids = ids[:page.limit]
        return Page([self.get_command(i) for i in ids], ids[-1] if more else None)

    def open_commands(self, device_id: str, now, limit: int) -> list[Command]:
        open_ = [c for c in self.commands.values() if c.device_id == device_id and c.status in OPEN_STATUSES
                 and c.expires_at > now]
        soonest = sorted(open_, key=lambda c: c.expires_at)[:limit]  # Firestore orders by expiry, then limits
        return [copy.deepcopy(c) for c in sorted(soonest, key=lambda c: (c.created_at, c.id))]

    def statuses(self, device_ids: Sequence[str], live_since) -> dict[str, Status]:
        return {i: session_status(self.presence[i].get("last_seen"), self.presence[i].get("sessions", {}),
                                  live_since) if i in self.presence else Status()
                for i in device_ids if valid_id(i)}

    def record_seen(self, seen: Mapping[str, Sighting]) -> None:
        for device_id, sighting in seen.items():
            record = self.presence.setdefault(device_id, {"sessions": {}})
            record.update(owner_id=sighting.owner_id, device_id=device_id, last_seen=sighting.at)
            for session in sighting.sessions:  # a merged write: a closed session comes back as {seen} alone
                record["sessions"].setdefault(session, {})["seen"] = sighting.at

    def live_instances(self, device_id: str, live_since) -> set[str]:
        return live_instances(self.presence.get(device_id, {}).get("sessions", {}), live_since)

    def open_session(self, device_id: str, owner_id: str, session: str, protocol: str, now) -> None:
        record = self.presence.setdefault(device_id, {"sessions": {}})
        record.update(owner_id=owner_id, device_id=device_id, last_seen=now)
        record["sessions"][session] = {"protocol": protocol, "since": now, "seen": now}

    def close_session(self, device_id: str, session: str) -> None:
        self.presence.get(device_id, {}).get("sessions", {}).pop(session, None)


class FakeControlBus:
    """The ``ControlBus`` port: remembers every nudge left in an instance's inbox (``published``: (instance, kind,
    device id, body)), or refuses them all while ``down``."""

    def __init__(self):
        self.published: list[tuple[str, str, str, dict]] = []
        self.down = False

    def nudge(self, instances: Collection[str], kind: str, device_id: str, body: Mapping[str, Any]) -> None:
        if self.down:
            raise PublishError("the bus is down")
        self.published.extend((instance, kind, device_id, copy.deepcopy(dict(body))) for instance in sorted(instances))
