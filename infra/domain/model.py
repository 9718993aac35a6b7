"""Domain types of the management API and the rules for their fields: pure, no I/O, no framework imports.

Users own devices (with their sensors) and consumers; a grant lets one of an owner's consumers read one of the
same owner's sensors. Ids are short random lowercase strings, safe in URLs, MQTT topics, Firestore document ids
and Elasticsearch index names, and never chosen by the caller.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Generic, Iterable, Mapping, TypeVar

from infra.domain.errors import BadRequestError
from infra.domain.telemetry import canonical_type
from infra.domain.claims import CONSUMER, DEVICE

ROLE_ADMIN, ROLE_USER = "admin", "user"
ROLES = (ROLE_ADMIN, ROLE_USER)

NAME_MAX = 100
DESCRIPTION_MAX = 1000
PATH_MAX_DEPTH = 8
PATH_PART_MAX = 100
UNIT_MAX = 32
PASSWORD_MIN = 10
PASSWORD_MAX = 1024  # a longer password only makes hashing it a denial-of-service lever
# A letter or digit first: Firestore reserves document ids like "__x__" and "..", and usernames key a document.
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{2,39}")
ID_PATTERN = re.compile(r"[a-z0-9]{1,64}")

MAPPING_KEYS = ("type", "unit")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

T = TypeVar("T")


def new_id() -> str:
    """A fresh random id: 12 lowercase hex characters."""
    return secrets.token_hex(6)


def valid_id(value: Any) -> bool:
    """True when ``value`` has the shape of an id (anything else cannot name a stored object)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    """Render a timestamp as ISO-8601 UTC with a ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class DuplicateError(Exception):
    """The object to create exists already (a taken username, an existing grant)."""


@dataclass(frozen=True)
class User:
    """An account. Its password hash is not part of it: it lives apart, where only api-users can read it
    (``Repository.get_password_hash``).

    ``token_version`` is in the account's tokens; a password change bumps it, which signs out every session.
    """

    id: str
    username: str
    name: str
    role: str
    created_at: datetime
    updated_at: datetime
    token_version: int = 1

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    def public(self) -> dict:
        """The user as the API shows it."""
        return {"id": self.id, "username": self.username, "name": self.name, "role": self.role,
                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at)}


@dataclass(frozen=True)
class KeyHolder:
    """A named object of one owner that holds revocable keys: its tokens carry ``key_version``, and bumping it
    (key rotation) revokes every earlier token. Devices and consumers are key holders; ``audience`` is the
    audience of their tokens."""

    audience: ClassVar[str]

    id: str
    owner_id: str
    name: str
    description: str
    key_version: int
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict:
        """The object as the API shows it."""
        return {"id": self.id, "owner_id": self.owner_id, "name": self.name, "description": self.description,
                "key_version": self.key_version, "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at)}


@dataclass(frozen=True)
class Device(KeyHolder):
    """A device of one owner; its sensors hang under it and it sends their readings with a device token."""

    audience: ClassVar[str] = DEVICE


@dataclass(frozen=True)
class Sensor:
    """A sensor of a device; ``type`` is the normalised ``mapping["type"]``, ``path`` its group in the tree."""

    id: str
    device_id: str
    owner_id: str
    name: str
    description: str
    type: str
    mapping: dict
    path: list[str]
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict:
        """The sensor as the API shows it."""
        return {"id": self.id, "device_id": self.device_id, "owner_id": self.owner_id, "name": self.name,
                "description": self.description, "type": self.type, "mapping": dict(self.mapping),
                "path": list(self.path), "created_at": iso(self.created_at), "updated_at": iso(self.updated_at)}


@dataclass(frozen=True)
class Consumer(KeyHolder):
    """A reader of granted sensors' data (a dashboard, another service), with a consumer token."""

    audience: ClassVar[str] = CONSUMER


@dataclass(frozen=True)
class Grant:
    """Permission for a consumer to read one sensor; consumer and sensor always have the same owner."""

    consumer_id: str
    sensor_id: str
    device_id: str
    owner_id: str
    created_at: datetime

    @property
    def id(self) -> str:
        return grant_id(self.consumer_id, self.sensor_id)

    def public(self) -> dict:
        """The grant as the API shows it."""
        return {"consumer_id": self.consumer_id, "sensor_id": self.sensor_id, "device_id": self.device_id,
                "owner_id": self.owner_id, "created_at": iso(self.created_at)}


def grant_id(consumer_id: str, sensor_id: str) -> str:
    """The document id of a grant: one grant per (consumer, sensor)."""
    return f"{consumer_id}__{sensor_id}"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageRequest:
    """Which page to list: at most ``limit`` items after the object with id ``cursor``."""

    limit: int = 100
    cursor: str | None = None


def can_access(user: User, owner_id: str) -> bool:
    """Ownership rule: admins see and manage everything, everyone else only what they own."""
    return user.is_admin or user.id == owner_id


# ---- request fields ------------------------------------------------------------------------------------------

Parser = Callable[[str, Any], Any]


def _invalid(name: str, message: str, code: str = "invalid_field") -> BadRequestError:
    return BadRequestError(f"{name}: {message}", code=code, details={"field": name})


def parse_name(name: str, value: Any) -> str:
    """A display name: a non-empty single-line string of at most NAME_MAX characters."""
    if not isinstance(value, str):
        raise _invalid(name, "must be a string")
    value = value.strip()
    if not value:
        raise _invalid(name, "must not be empty")
    if len(value) > NAME_MAX:
        raise _invalid(name, f"must be at most {NAME_MAX} characters")
    if _CONTROL.search(value):
        raise _invalid(name, "must not contain control characters")
    return value


def parse_description(name: str, value: Any) -> str:
    """A free text of at most DESCRIPTION_MAX characters (null means empty)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(name, "must be a string")
    if len(value) > DESCRIPTION_MAX:
        raise _invalid(name, f"must be at most {DESCRIPTION_MAX} characters")
    return value


def parse_username(name: str, value: Any) -> str:
    """A username: 3-40 of ``a-z 0-9 _ . -``, starting with a letter or digit."""
    if not isinstance(value, str) or USERNAME_PATTERN.fullmatch(value) is None:
        raise _invalid(name, "must be 3-40 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit")
    return value


def parse_password(name: str, value: Any) -> str:
    """A new password: at least PASSWORD_MIN characters."""
    if not isinstance(value, str):
        raise _invalid(name, "must be a string")
    if len(value) < PASSWORD_MIN:
        raise _invalid(name, f"must be at least {PASSWORD_MIN} characters", code="weak_password")
    if len(value) > PASSWORD_MAX:
        raise _invalid(name, f"must be at most {PASSWORD_MAX} characters")
    return value


def parse_secret(name: str, value: Any) -> str:
    """A password given to prove identity (no policy; the policy applies when it is set)."""
    if not isinstance(value, str) or not value or len(value) > PASSWORD_MAX:
        raise _invalid(name, "must be a non-empty string")
    return value


def parse_role(name: str, value: Any) -> str:
    """A role: ``admin`` or ``user``."""
    if value not in ROLES:
        raise _invalid(name, f"must be one of {', '.join(ROLES)}")
    return value


def parse_reference(name: str, value: Any) -> str:
    """The id of another object named in a body (e.g. ``sensor_id``); numbers are accepted as strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise _invalid(name, "must be an id string")
    return value


def parse_path(name: str, value: Any) -> list[str]:
    """A sensor's group path: a list of at most PATH_MAX_DEPTH non-empty names (null means the root)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(name, 'must be a list of group names, e.g. ["Wheels", "Front"]')
    if len(value) > PATH_MAX_DEPTH:
        raise _invalid(name, f"must have at most {PATH_MAX_DEPTH} levels")
    parts = []
    for part in value:
        if not isinstance(part, str) or not part.strip():
            raise _invalid(name, "every level must be a non-empty string")
        part = part.strip()
        if len(part) > PATH_PART_MAX:
            raise _invalid(name, f"every level must be at most {PATH_PART_MAX} characters")
        if _CONTROL.search(part):
            raise _invalid(name, "levels must not contain control characters")
        parts.append(part)
    return parts


def normalise_type(value: Any) -> str:
    """A sensor type after aliases (float→double, integer→long, string/text→keyword).

    Raises:
        BadRequestError: code ``unknown_sensor_type``.
    """
    if not isinstance(value, str):
        raise BadRequestError("mapping.type must be a string", code="invalid_mapping", details={"field": "mapping"})
    try:
        return canonical_type(value)
    except ValueError as exc:
        raise BadRequestError(str(exc), code="unknown_sensor_type",
                              details={"field": "mapping", "type": value}) from None


def parse_mapping(name: str, value: Any) -> dict:
    """A sensor mapping, given as an object or as a JSON string of one: ``{"type": ..., "unit"?: ...}``.

    Returns the normalised object, e.g. ``{"type": "double"}`` for ``'{"type": "float"}'``.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # the stdlib parser recurses: a deeply nested string overflows it
            raise _invalid(name, 'is not valid JSON (send e.g. {"type": "double"})', code="invalid_mapping") from None
    if not isinstance(value, dict):
        raise _invalid(name, 'must be an object like {"type": "double"}', code="invalid_mapping")
    extra = sorted(set(value) - set(MAPPING_KEYS))
    if extra:
        raise _invalid(name, f"unknown key {extra[0]!r} (allowed: {', '.join(MAPPING_KEYS)})", code="invalid_mapping")
    if "type" not in value:
        raise _invalid(name, 'needs a "type"', code="invalid_mapping")
    mapping = {"type": normalise_type(value["type"])}
    unit = value.get("unit")
    if unit is not None:
        if not isinstance(unit, str) or len(unit) > UNIT_MAX or _CONTROL.search(unit):
            raise _invalid(name, f"unit must be a string of at most {UNIT_MAX} characters", code="invalid_mapping")
        if unit:
            mapping["unit"] = unit
    return mapping


@dataclass(frozen=True)
class Fields:
    """What a request body may carry: a parser per accepted field, the required ones and the read-only ones.

    ``parse`` refuses read-only fields (``read_only_field``), any other unknown field (``unknown_field``) and
    missing required ones (``missing_field``), each naming the field, then parses every value.
    """

    accepted: Mapping[str, Parser]
    required: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def parse(self, body: Mapping[str, Any]) -> dict:
        """Validate ``body`` and return the parsed values (with defaults for absent optional fields)."""
        for key in body:
            if key in self.read_only:
                raise BadRequestError(f"{key} cannot be changed", code="read_only_field", details={"field": key})
            if key not in self.accepted:
                allowed = ", ".join(self.accepted)
                raise BadRequestError(f"unknown field {key!r} (accepted: {allowed})", code="unknown_field",
                                      details={"field": key})
        for key in self.accepted:
            if key in self.required and key not in body:
                raise BadRequestError(f"{key} is required", code="missing_field", details={"field": key})
        values = {key: self.accepted[key](key, value) for key, value in body.items()}
        for key, default in self.defaults.items():
            values.setdefault(key, default)
        return values


_OBJECT_READ_ONLY = frozenset({"id", "owner_id", "created_at", "updated_at"})

USER_CREATE = Fields({"username": parse_username, "password": parse_password, "name": parse_name,
                      "role": parse_role}, required=frozenset({"username", "password"}),
                     read_only=_OBJECT_READ_ONLY, defaults={"role": ROLE_USER})
USER_PATCH = Fields({"name": parse_name, "password": parse_password, "role": parse_role},
                    read_only=_OBJECT_READ_ONLY | {"username"})
SELF_PATCH = Fields({"name": parse_name, "password": parse_password, "current_password": parse_secret},
                    read_only=_OBJECT_READ_ONLY | {"username", "role"})
SIGN_IN = Fields({"username": parse_secret, "password": parse_secret},
                 required=frozenset({"username", "password"}))
# Devices and consumers take the same fields.
HOLDER_CREATE = Fields({"name": parse_name, "description": parse_description}, required=frozenset({"name"}),
                       read_only=_OBJECT_READ_ONLY | {"key_version"}, defaults={"description": ""})
HOLDER_PATCH = Fields({"name": parse_name, "description": parse_description},
                      read_only=_OBJECT_READ_ONLY | {"key_version"})
# A sensor's type is fixed at creation: readings already indexed were typed by it.
SENSOR_CREATE = Fields({"name": parse_name, "description": parse_description, "mapping": parse_mapping,
                        "path": parse_path}, required=frozenset({"name", "mapping"}),
                       read_only=_OBJECT_READ_ONLY | {"device_id", "type"},
                       defaults={"description": "", "path": []})
SENSOR_PATCH = Fields({"name": parse_name, "description": parse_description, "path": parse_path},
                      read_only=_OBJECT_READ_ONLY | {"device_id", "type", "mapping"})
GRANT_CREATE = Fields({"sensor_id": parse_reference}, required=frozenset({"sensor_id"}),
                      read_only=frozenset({"consumer_id", "device_id", "owner_id", "created_at"}))


def sensor_tree(sensors: Iterable[Sensor]) -> dict:
    """Nest sensors under the groups of their paths: ``{"groups": [{"name", "groups", "sensors"}], "sensors"}``.

    Groups and sensors are sorted by name, so the same sensors always give the same tree.
    """
    root: dict = {"groups": {}, "sensors": []}
    for sensor in sensors:
        node = root
        for part in sensor.path:
            node = node["groups"].setdefault(part, {"groups": {}, "sensors": []})
        node["sensors"].append(sensor)

    def render(node: dict) -> dict:
        return {"groups": [{"name": name, **render(child)} for name, child in sorted(node["groups"].items())],
                "sensors": [s.public() for s in sorted(node["sensors"], key=lambda s: (s.name, s.id))]}

    return render(root)
