"""Storage of users, devices, sensors, consumers, grants and sign-in throttling: the ``Repository`` port
(``infra.domain.ports``) on Firestore, across three databases.

The credentials (``credentials/{user_id}``: the password hash; ``signin_throttle``; ``bootstrap``) live in their
own database (``IOT_CREDENTIALS_DATABASE``), which IAM lets only api-users read (terraform/iam.tf); everything else
in the ``(default)`` database, which the other services reach. A repository built without the credentials database
refuses the credential methods (``CredentialsUnavailableError``) instead of reaching for them.

A device's ``twins``, ``commands`` and ``presence`` (``infra.adapters.firestore_control``) live in the device-control
database (``IOT_CONTROL_DATABASE``), which the gateways write, and are deleted with the device or its owner. The
cascade crosses databases, so no transaction covers it: the control documents go first, while the device still
exists, so a delete that stops half-way leaves a device (or user) that a retried delete finishes, never control
documents that nothing leads to any more; and once more last, for what was written while the delete ran (a command
stored, a device's presence). One thing remains: a gateway whose device cache still holds the device (up to
``IOT_REVOCATION_CACHE_TTL``) may write its presence or reported state after that; such a document is keyed by an id
never reused, read by nobody, and only costs its storage. A repository built without the control database refuses
to delete devices and users (``ControlUnavailableError``).

Collections are top-level and keyed by the objects' random ids (see ``infra.domain.model``):
``users``, ``usernames/{username}`` (uniqueness, written in the same commit as the user), ``devices``,
``sensors``, ``consumers``, ``grants/{consumer_id}__{sensor_id}`` and ``signin_throttle``. Every object carries
``owner_id`` (users excepted), so deleting an owner's things is one query per collection. Listings are ordered
by document id, which needs only Firestore's automatic single-field indexes.

The read methods the gateways and the data API rely on are ``get_device``, ``sensor_types``, ``get_sensor``,
``readable_sensors``, ``get_consumer``, ``has_grant`` and ``granted_sensor_ids``.
"""

from __future__ import annotations

import logging
from dataclasses import MISSING, fields
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple, Sequence, TypeVar

from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from infra.adapters.firestore_control import COMMANDS, PRESENCE, TWINS
from infra.adapters.firestore_rules import ALERTS, RULE_STATES, RULES
from infra.adapters.firestore_pages import id_ordered_page
from infra.domain.model import (USERNAME_PATTERN, Consumer, Device, DuplicateError, Grant, KeyHolder, Page, PageRequest,
                         Sensor, User, grant_id, utc_now, valid_id)
from infra.domain.claims import CONSUMER, DEVICE

logger = logging.getLogger(__name__)

USERS, USERNAMES, DEVICES, SENSORS = "users", "usernames", "devices", "sensors"
CONSUMERS, GRANTS, SIGNIN_THROTTLE = "consumers", "grants", "signin_throttle"
BOOTSTRAP = "bootstrap"  # one document per one-time bootstrap step that ran
CREDENTIALS = "credentials"  # one document per user: its password hash
KNOWN_ADDRESSES = 10  # per username: the addresses of its latest successful sign-ins
KNOWN_ADDRESS_SECONDS = 90 * 86400  # forgotten after 90 days without a sign-in
THROTTLE_EXPIRY_FIELD = "expires_at"  # a Firestore TTL policy on it (terraform/project.tf) deletes stale throttles
BATCH_SIZE = 400  # Firestore allows 500 writes per commit

T = TypeVar("T")


class CredentialsUnavailableError(RuntimeError):
    """This process was given no access to the credentials database (only api-users is)."""


class ControlUnavailableError(RuntimeError):
    """This process was given no access to the device-control database (api-users, api-devices and gateways are)."""


class FirestoreRepository:
    """The ``Repository`` on Firestore (the emulator locally). Thread-safe: the clients are, and nothing else is kept.

    ``credentials`` is the client of the credentials database; None in every service but api-users. ``control`` is
    the client of the device-control database, needed to delete devices and users.
    """

    def __init__(self, client: firestore.Client, credentials: firestore.Client | None = None,
                 control: firestore.Client | None = None):
        self.db = client
        self._credentials = credentials
        self._control = control

    @property
    def credentials(self) -> firestore.Client:
        """The credentials database.

        Raises:
            CredentialsUnavailableError: this repository was built without it.
        """
        return _given(self._credentials, CredentialsUnavailableError,
                      "the credentials database (IOT_CREDENTIALS_DATABASE is set for api-users only)")

    @property
    def control(self) -> firestore.Client:
        """The device-control database (twins, commands, presence).

        Raises:
            ControlUnavailableError: this repository was built without it.
        """
        return _given(self._control, ControlUnavailableError,
                      "the device-control database (IOT_CONTROL_DATABASE), whose documents go with a device or user")

    # ---- users ---------------------------------------------------------------------------------------------

    def get_user(self, user_id: str) -> User | None:
        """The user with this id."""
        return self._get(USERS, user_id, _user)

    def get_user_by_username(self, username: str) -> User | None:
        """The user with this username."""
        if not isinstance(username, str) or USERNAME_PATTERN.fullmatch(username) is None:
            return None
        entry = self.db.collection(USERNAMES).document(username).get()
        if not entry.exists:
            return None
        return self.get_user(entry.get("user_id"))

    def create_user(self, user: User, password_hash: str) -> None:
        """Store a new user's password hash, then the user and its username in one commit.

        Raises:
            DuplicateError: the username (or, by chance, the id) is taken; nothing is left behind.
        """
        credential = self.credentials.collection(CREDENTIALS).document(user.id)
        try:
            credential.create({"password_hash": password_hash})
        except (google_errors.AlreadyExists, google_errors.Conflict):
            raise DuplicateError(user.id) from None
        batch = self.db.batch()
        batch.create(self.db.collection(USERNAMES).document(user.username), {"user_id": user.id})
        batch.create(self.db.collection(USERS).document(user.id), _record(user))
        try:
            batch.commit()
        except (google_errors.AlreadyExists, google_errors.Conflict):
            credential.delete()
            raise DuplicateError(user.username) from None

    def update_user(self, user_id: str, changes: dict[str, Any], *, password_hash: str | None = None) -> bool:
        """Apply ``changes`` (already validated) to a user, and replace its password hash when given; False when
        the user does not exist.

        The profile goes first: a new password comes with a new token version, so the sessions are signed out
        even if storing the hash then fails (the caller sees the error and may retry).
        """
        if not self._update(USERS, user_id, changes):
            return False
        if password_hash is not None:
            self.credentials.collection(CREDENTIALS).document(user_id).set({"password_hash": password_hash})
        return True

    def get_password_hash(self, user_id: str) -> str | None:
        """The user's password hash (from the credentials database)."""
        if not valid_id(user_id):
            return None
        snapshot = self.credentials.collection(CREDENTIALS).document(user_id).get()
        return snapshot.get("password_hash") if snapshot.exists else None

    def list_users(self, page: PageRequest) -> Page[User]:
        """Every user, a page at a time."""
        return self._page(USERS, self.db.collection(USERS), page, _user)

    def delete_user(self, user_id: str) -> bool:
        """Delete a user and everything they own (devices with their control documents, sensors, consumers, grants,
        rules, alerts); False when absent.

        The control documents go first and last (see the module docstring); the user goes before the rest, so its
        tokens stop working before the clean-up runs.
        """
        user = self.get_user(user_id)
        if user is None:
            return False
        self._delete_control("owner_id", user_id)
        batch = self.db.batch()
        batch.delete(self.db.collection(USERS).document(user_id))
        batch.delete(self.db.collection(USERNAMES).document(user.username))
        batch.commit()
        self.credentials.collection(CREDENTIALS).document(user_id).delete()
        # Parents before children, grants last, so nothing created concurrently is missed (see delete_holder).
        for collection in (DEVICES, CONSUMERS, SENSORS, GRANTS, *SENSOR_RULES):
            self._delete_where(collection, "owner_id", user_id)
        self._delete_control("owner_id", user_id)
        return True

    # ---- key holders: devices and consumers -------------------------------------------------------------------

    def get_holder(self, audience: str, holder_id: str) -> KeyHolder | None:
        """The device or consumer with this id (``owner_id`` and ``key_version`` for the verifiers)."""
        store = _HOLDERS[audience]
        return self._get(store.collection, holder_id, store.read)

    def get_device(self, device_id: str) -> Device | None:
        """The device with this id."""
        return self.get_holder(DEVICE, device_id)

    def get_consumer(self, consumer_id: str) -> Consumer | None:
        """The consumer with this id."""
        return self.get_holder(CONSUMER, consumer_id)

    def create_holder(self, holder: KeyHolder) -> None:
        """Store a new device or consumer.

        Raises:
            DuplicateError: its id is taken (random ids make this a near impossibility, but the port promises it).
        """
        try:
            self.db.collection(_HOLDERS[holder.audience].collection).document(holder.id).create(_record(holder))
        except (google_errors.AlreadyExists, google_errors.Conflict):
            raise DuplicateError(holder.id) from None

    def update_holder(self, audience: str, holder_id: str, changes: dict[str, Any]) -> bool:
        """Apply ``changes`` to a device or consumer; False when it does not exist."""
        return self._update(_HOLDERS[audience].collection, holder_id, changes)

    def list_holders(self, audience: str, owner_id: str | None, page: PageRequest) -> Page[KeyHolder]:
        """The devices or consumers of ``owner_id`` (None: everyone's), a page at a time."""
        store = _HOLDERS[audience]
        return self._page(store.collection, self._owned(store.collection, owner_id), page, store.read)

    def delete_holder(self, audience: str, holder_id: str) -> bool:
        """Delete a device (with its control documents, sensors and their grants) or a consumer (with its grants);
        False when absent.

        A device's control documents go before it and again last (see the module docstring). The holder goes before
        its other dependents: a sensor created concurrently either commits before (its transaction read the device)
        and is found by the clean-up queries, or fails because the device is gone. Grants come after: one created
        concurrently needs its consumer and sensor, so it either exists by now or fails.
        """
        store = _HOLDERS[audience]
        control = store.control_field and self.get_holder(audience, holder_id) is not None
        if control:
            self._delete_control(store.control_field, holder_id)
        if not self._delete_if_exists(store.collection, holder_id):
            return False
        for collection, field_name in store.dependents:
            self._delete_where(collection, field_name, holder_id)
        if control:
            self._delete_control(store.control_field, holder_id)
        return True

    def bump_key(self, audience: str, holder_id: str) -> int | None:
        """Increase a device's or consumer's key version by one and return it; None when it does not exist."""
        if not valid_id(holder_id):
            return None
        ref = self.db.collection(_HOLDERS[audience].collection).document(holder_id)

        @firestore.transactional
        def bump(transaction) -> int | None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return None
            version = int(snapshot.get("key_version")) + 1
            transaction.update(ref, {"key_version": version, "updated_at": utc_now()})
            return version

        return bump(self.db.transaction())

    # ---- sensors -------------------------------------------------------------------------------------------

    def get_sensor(self, sensor_id: str) -> Sensor | None:
        """The sensor with this id."""
        return self._get(SENSORS, sensor_id, _sensor)

    def readable_sensors(self, sensor_ids: Sequence[str], granted_to: str | None = None) -> dict[str, Sensor]:
        """The sensors of ``sensor_ids`` that exist, by id, in one batched read; with ``granted_to``, only those
        granted to that consumer (its grants are read in the same batch)."""
        ids = [sensor_id for sensor_id in dict.fromkeys(sensor_ids) if valid_id(sensor_id)]
        if not ids or (granted_to is not None and not valid_id(granted_to)):
            return {}
        refs = [self.db.collection(SENSORS).document(sensor_id) for sensor_id in ids]
        if granted_to is not None:
            refs += [self.db.collection(GRANTS).document(grant_id(granted_to, sensor_id)) for sensor_id in ids]
        sensors, granted = {}, set()
        for snapshot in self.db.get_all(refs):
            if not snapshot.exists:
                continue
            if snapshot.reference.parent.id == SENSORS:
                sensors[snapshot.id] = _sensor(snapshot)
            else:
                granted.add(snapshot.get("sensor_id"))
        if granted_to is None:
            return sensors
        return {sensor_id: sensor for sensor_id, sensor in sensors.items() if sensor_id in granted}

    def create_sensor(self, device_id: str, build: Callable[[Device], Sensor]) -> Sensor | None:
        """Store the sensor ``build(device)`` makes from the device as read in the same transaction.

        Returns None when the device does not exist. ``build`` may raise (e.g. the caller may not manage the
        device), which stores nothing. One transaction both checks the device and creates the sensor, so a
        sensor never outlives a device deleted at the same moment.
        """
        if not valid_id(device_id):
            return None
        device_ref = self.db.collection(DEVICES).document(device_id)

        @firestore.transactional
        def create(transaction) -> Sensor | None:
            snapshot = device_ref.get(transaction=transaction)
            if not snapshot.exists:
                return None
            sensor = build(_device(snapshot))
            transaction.create(self.db.collection(SENSORS).document(sensor.id), _record(sensor))
            return sensor

        try:
            return create(self.db.transaction())
        except (google_errors.AlreadyExists, google_errors.Conflict):
            raise DuplicateError(device_id) from None

    def update_sensor(self, sensor_id: str, changes: dict[str, Any]) -> bool:
        """Apply ``changes`` to a sensor; False when it does not exist."""
        return self._update(SENSORS, sensor_id, changes)

    def list_sensors(self, device_id: str, page: PageRequest) -> Page[Sensor]:
        """The sensors of a device, a page at a time."""
        query = self.db.collection(SENSORS).where(filter=FieldFilter("device_id", "==", device_id))
        return self._page(SENSORS, query, page, _sensor)

    def sensors_of_device(self, device_id: str) -> list[Sensor]:
        """Every sensor of a device."""
        if not valid_id(device_id):
            return []
        query = self.db.collection(SENSORS).where(filter=FieldFilter("device_id", "==", device_id))
        return [_sensor(snapshot) for snapshot in query.stream()]

    def sensor_types(self, device_id: str) -> dict[str, str]:
        """The sensors of a device as ``{sensor_id: type}`` (what a gateway validates readings against)."""
        if not valid_id(device_id):
            return {}
        query = (self.db.collection(SENSORS).where(filter=FieldFilter("device_id", "==", device_id))
                 .select(["type"]))
        return {snapshot.id: snapshot.get("type") for snapshot in query.stream()}

    def delete_sensor(self, sensor_id: str) -> bool:
        """Delete a sensor, its grants, its alert rules and their alerts; False when absent."""
        if not self._delete_if_exists(SENSORS, sensor_id):
            return False
        self._delete_where(GRANTS, "sensor_id", sensor_id)
        for collection in SENSOR_RULES:
            self._delete_where(collection, "sensor_id", sensor_id)
        return True

    # ---- consumers -----------------------------------------------------------------------------------------

    # ---- grants --------------------------------------------------------------------------------------------

    def create_grant(self, grant: Grant) -> bool:
        """Store a grant if its consumer and sensor still exist (one transaction); False otherwise.

        Raises:
            DuplicateError: the grant exists already.
        """
        consumer_ref = self.db.collection(CONSUMERS).document(grant.consumer_id)
        sensor_ref = self.db.collection(SENSORS).document(grant.sensor_id)
        grant_ref = self.db.collection(GRANTS).document(grant.id)

        @firestore.transactional
        def create(transaction) -> bool:
            consumer, sensor, existing = (ref.get(transaction=transaction)
                                          for ref in (consumer_ref, sensor_ref, grant_ref))
            if not (consumer.exists and sensor.exists):
                return False
            if existing.exists:
                raise DuplicateError(grant.id)
            transaction.create(grant_ref, _record(grant))
            return True

        return create(self.db.transaction())

    def delete_grant(self, consumer_id: str, sensor_id: str) -> bool:
        """Revoke a grant; False when there was none."""
        if not (valid_id(consumer_id) and valid_id(sensor_id)):
            return False
        return self._delete_if_exists(GRANTS, grant_id(consumer_id, sensor_id))

    def has_grant(self, consumer_id: str, sensor_id: str) -> bool:
        """True when the consumer may read the sensor."""
        if not (valid_id(consumer_id) and valid_id(sensor_id)):
            return False
        return self.db.collection(GRANTS).document(grant_id(consumer_id, sensor_id)).get().exists

    def granted_sensor_ids(self, consumer_id: str) -> list[str]:
        """The ids of every sensor granted to a consumer."""
        if not valid_id(consumer_id):
            return []
        query = (self.db.collection(GRANTS).where(filter=FieldFilter("consumer_id", "==", consumer_id))
                 .select(["sensor_id"]))
        return [snapshot.get("sensor_id") for snapshot in query.stream()]

    def granted_sensors(self, consumer_id: str, page: PageRequest) -> Page[Sensor]:
        """The sensors granted to a consumer, a page at a time (ordered by grant id)."""
        query = self.db.collection(GRANTS).where(filter=FieldFilter("consumer_id", "==", consumer_id))
        grants = self._page(GRANTS, query, page, lambda snapshot: snapshot.get("sensor_id"))
        refs = [self.db.collection(SENSORS).document(sensor_id) for sensor_id in grants.items]
        by_id = {snapshot.id: _sensor(snapshot) for snapshot in self.db.get_all(refs) if snapshot.exists}
        sensors = [by_id[sensor_id] for sensor_id in grants.items if sensor_id in by_id]
        return Page(sensors, grants.next_cursor)

    # ---- sign-in throttle ----------------------------------------------------------------------------------

    def reserve_signin_attempt(self, key: str, now: float, window: float, limit: int) -> float | None:
        """Count one sign-in attempt for ``key`` unless ``limit`` were counted within ``window`` seconds.

        Returns None when the attempt may proceed, else the seconds until one becomes possible. Counting before
        the password check (in a transaction) means parallel guesses cannot slip past the limit.
        """
        db = self.credentials
        ref = db.collection(SIGNIN_THROTTLE).document(key)

        @firestore.transactional
        def reserve(transaction) -> float | None:
            snapshot = ref.get(transaction=transaction)
            attempts = [t for t in (snapshot.get("attempts") if snapshot.exists else []) if t > now - window]
            if len(attempts) >= limit:
                return min(attempts) + window - now
            attempts.append(now)
            expires_at = datetime.fromtimestamp(now + window, timezone.utc)
            transaction.set(ref, {"attempts": attempts, THROTTLE_EXPIRY_FIELD: expires_at})
            return None

        return reserve(db.transaction())

    def clear_signin_attempts(self, key: str) -> None:
        """Forget the counted attempts of ``key`` (after a successful sign-in)."""
        self.credentials.collection(SIGNIN_THROTTLE).document(key).delete()

    def signin_address_known(self, user_key: str, address_key: str) -> bool:
        """Whether a username (``user_key``) signed in from an address (``address_key``) lately."""
        snapshot = self.credentials.collection(SIGNIN_THROTTLE).document(_known_id(user_key)).get()
        return snapshot.exists and address_key in (snapshot.get("addresses") or [])

    def remember_signin_address(self, user_key: str, address_key: str, now: float) -> None:
        """Remember the address of a successful sign-in (the most recent ``KNOWN_ADDRESSES`` per username)."""
        db = self.credentials
        ref = db.collection(SIGNIN_THROTTLE).document(_known_id(user_key))

        @firestore.transactional
        def remember(transaction) -> None:
            snapshot = ref.get(transaction=transaction)
            addresses = [a for a in (snapshot.get("addresses") if snapshot.exists else []) if a != address_key]
            addresses = (addresses + [address_key])[-KNOWN_ADDRESSES:]
            expires_at = datetime.fromtimestamp(now + KNOWN_ADDRESS_SECONDS, timezone.utc)
            transaction.set(ref, {"addresses": addresses, THROTTLE_EXPIRY_FIELD: expires_at})

        remember(db.transaction())

    # --- bootstrap ------------------------------------------------------------------------------------------------

    def bootstrapped(self, step: str) -> bool:
        """Whether the one-time bootstrap ``step`` ran."""
        return self.credentials.collection(BOOTSTRAP).document(step).get().exists

    def mark_bootstrapped(self, step: str) -> None:
        """Remember that ``step`` ran (idempotent)."""
        self.credentials.collection(BOOTSTRAP).document(step).set({"at": datetime.now(timezone.utc)})

    # ---- helpers -------------------------------------------------------------------------------------------

    def _get(self, collection: str, object_id: str, parse: Callable[[Any], T]) -> T | None:
        if not valid_id(object_id):
            return None
        snapshot = self.db.collection(collection).document(object_id).get()
        return parse(snapshot) if snapshot.exists else None

    def _owned(self, collection: str, owner_id: str | None):
        query = self.db.collection(collection)
        if owner_id is not None:
            query = query.where(filter=FieldFilter("owner_id", "==", owner_id))
        return query

    def _page(self, collection: str, query, page: PageRequest, parse: Callable[[Any], T]) -> Page[T]:
        return id_ordered_page(self.db, collection, query, page, parse)

    def _update(self, collection: str, object_id: str, changes: dict[str, Any]) -> bool:
        if not valid_id(object_id):
            return False
        try:
            self.db.collection(collection).document(object_id).update(changes)
        except google_errors.NotFound:
            return False
        return True

    def _delete_if_exists(self, collection: str, document_id: str) -> bool:
        ref = self.db.collection(collection).document(document_id)

        @firestore.transactional
        def delete(transaction) -> bool:
            if not ref.get(transaction=transaction).exists:
                return False
            transaction.delete(ref)
            return True

        return delete(self.db.transaction())

    def _delete_control(self, field_name: str, value: str) -> None:
        """Delete the twins, commands and presence whose ``field_name`` (device_id or owner_id) equals ``value``."""
        control = self.control
        for collection in DEVICE_CONTROL:
            self._delete_where(collection, field_name, value, control)

    def _delete_where(self, collection: str, field_name: str, value: str, db: firestore.Client | None = None) -> int:
        """Delete every document of ``db`` (default: the (default) database) whose ``field_name`` equals ``value``;
        return how many."""
        db = db or self.db
        query = db.collection(collection).where(filter=FieldFilter(field_name, "==", value)).select([])
        deleted = 0
        while True:
            refs = [snapshot.reference for snapshot in query.limit(BATCH_SIZE).stream()]
            if not refs:
                return deleted
            batch = db.batch()
            for ref in refs:
                batch.delete(ref)
            batch.commit()
            deleted += len(refs)


def _given(client: firestore.Client | None, error: type[Exception], database: str) -> firestore.Client:
    """``client``, or ``error`` saying this service has no access to ``database``."""
    if client is None:
        raise error(f"this service has no access to {database}")
    return client


def _record(obj) -> dict[str, Any]:
    """The stored fields of a domain object (its id is the document id)."""
    record = dict(vars(obj))
    record.pop("id", None)
    return record


def _user(snapshot) -> User:
    return User(id=snapshot.id, **_fields(snapshot, User))


def _device(snapshot) -> Device:
    return Device(id=snapshot.id, **_fields(snapshot, Device))


def _sensor(snapshot) -> Sensor:
    return Sensor(id=snapshot.id, **_fields(snapshot, Sensor))


def _consumer(snapshot) -> Consumer:
    return Consumer(id=snapshot.id, **_fields(snapshot, Consumer))


def _fields(snapshot, kind) -> dict[str, Any]:
    data = snapshot.to_dict()
    # A field added later reads as its default in documents written before it.
    return {f.name: data.get(f.name, None if f.default is MISSING else f.default) for f in fields(kind)
            if f.name != "id"}


class _HolderStore(NamedTuple):
    collection: str
    read: Callable[[Any], KeyHolder]
    dependents: tuple[tuple[str, str], ...]  # (collection, field) of what is deleted with the holder, in order
    control_field: str | None  # the field of its control documents naming it; None: it has none


# A device's twin, commands and presence (infra.adapters.firestore_control, the device-control database) go with it.
DEVICE_CONTROL = (TWINS, COMMANDS, PRESENCE)
# A sensor's alert rules, their state and their alerts (infra.adapters.firestore_rules) go with it, its device and
# its owner.
SENSOR_RULES = (RULES, RULE_STATES, ALERTS)

_HOLDERS = {
    DEVICE: _HolderStore(DEVICES, _device, ((SENSORS, "device_id"), (GRANTS, "device_id"),
                                            *((collection, "device_id") for collection in SENSOR_RULES)), "device_id"),
    CONSUMER: _HolderStore(CONSUMERS, _consumer, ((GRANTS, "consumer_id"),), None),
}


def _known_id(user_key: str) -> str:
    return f"known-{user_key}"
