"""The ports: what the use cases need from the outside world, as Protocols the adapters implement.

Use cases are written against these only (``infra.usecases``); ``infra.adapters`` holds the implementations
(Firestore, Pub/Sub, Elasticsearch, PyJWT, werkzeug's scrypt) and ``infra.wiring`` plugs one into the other. The
unit tests plug in fakes (``tests/support/fakes.py``).
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Collection, Iterator, Mapping, Protocol, Sequence

from infra.domain.claims import Claims
from infra.domain.control import Command, Sighting, Status, Twin
from infra.domain.deletions import Deletion
from infra.domain.model import Consumer, Device, Grant, KeyHolder, Page, PageRequest, Sensor, User
from infra.domain.rejections import Rejection
from infra.domain.alerts import Alert
from infra.domain.rules import Rule, RuleState


class Repository(Protocol):
    """Storage of users, devices, sensors, consumers, grants and sign-in throttling.

    Lookups return None for missing objects (and malformed ids). Creating an object whose unique key exists raises
    ``infra.domain.model.DuplicateError``. Password hashes, the sign-in throttle and the bootstrap steps are the
    credentials: an implementation may keep them where only the accounts service can read them, and refuse those
    methods elsewhere.
    """

    # users
    def get_user(self, user_id: str) -> User | None: ...
    def get_user_by_username(self, username: str) -> User | None: ...
    def create_user(self, user: User, password_hash: str) -> None: ...
    def update_user(self, user_id: str, changes: dict[str, Any], *, password_hash: str | None = None) -> bool: ...
    def get_password_hash(self, user_id: str) -> str | None: ...
    def list_users(self, page: PageRequest) -> Page[User]: ...
    def delete_user(self, user_id: str) -> bool: ...

    # key holders (devices and consumers), by their tokens' audience
    def get_holder(self, audience: str, holder_id: str) -> KeyHolder | None: ...
    def get_device(self, device_id: str) -> Device | None: ...
    def get_consumer(self, consumer_id: str) -> Consumer | None: ...
    def create_holder(self, holder: KeyHolder) -> None: ...
    def update_holder(self, audience: str, holder_id: str, changes: dict[str, Any]) -> bool: ...
    def list_holders(self, audience: str, owner_id: str | None, page: PageRequest) -> Page[KeyHolder]: ...
    def delete_holder(self, audience: str, holder_id: str) -> bool: ...
    def bump_key(self, audience: str, holder_id: str) -> int | None: ...

    # sensors
    def get_sensor(self, sensor_id: str) -> Sensor | None: ...
    def readable_sensors(self, sensor_ids: Sequence[str], granted_to: str | None = None) -> dict[str, Sensor]: ...
    def create_sensor(self, device_id: str, build: Callable[[Device], Sensor]) -> Sensor | None: ...
    def update_sensor(self, sensor_id: str, changes: dict[str, Any]) -> bool: ...
    def list_sensors(self, device_id: str, page: PageRequest) -> Page[Sensor]: ...
    def sensors_of_device(self, device_id: str) -> list[Sensor]: ...
    def sensor_types(self, device_id: str) -> dict[str, str]: ...
    def delete_sensor(self, sensor_id: str) -> bool: ...

    # grants
    def create_grant(self, grant: Grant) -> bool: ...
    def delete_grant(self, consumer_id: str, sensor_id: str) -> bool: ...
    def has_grant(self, consumer_id: str, sensor_id: str) -> bool: ...
    def granted_sensor_ids(self, consumer_id: str) -> list[str]: ...
    def granted_sensors(self, consumer_id: str, page: PageRequest) -> Page[Sensor]: ...

    # sign-in throttle
    def reserve_signin_attempt(self, key: str, now: float, window: float, limit: int) -> float | None: ...
    def clear_signin_attempts(self, key: str) -> None: ...
    def signin_address_known(self, user_key: str, address_key: str) -> bool: ...
    def remember_signin_address(self, user_key: str, address_key: str, now: float) -> None: ...

    # one-time bootstrap steps (e.g. the admin account), remembered so they never run again
    def bootstrapped(self, step: str) -> bool: ...
    def mark_bootstrapped(self, step: str) -> None: ...


class PublishError(RuntimeError):
    """The message bus did not confirm a publish within its timeout, or refused it; retry later."""


class Publisher(Protocol):
    """The telemetry topic: a publish counts only once the bus confirmed it."""

    def publish(self, data: bytes, **attributes: str) -> str:
        """Publish one message; return its id once confirmed. Raises ``PublishError``."""
        ...

    def publish_future(self, data: bytes, **attributes: str) -> concurrent.futures.Future:
        """Start a publish; the future resolves once it is confirmed (for asyncio transports)."""
        ...


class TokenIssuer(Protocol):
    """Signs tokens; user tokens expire after ``user_ttl`` seconds."""

    user_ttl: int

    def issue(self, audience: str, subject: str, *, version: int | None = None, role: str | None = None,
              ttl: int | None = None) -> str: ...


class TokenVerifier(Protocol):
    """Verifies a token for one audience. Raises ``infra.domain.claims.TokenError``."""

    def verify(self, token: str, audience: str) -> Claims: ...


class PasswordHasher(Protocol):
    """A slow, salted password hash."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def spend_verification_time(self, password: str) -> None:
        """Take as long as ``verify`` does, for an unknown user (no timing oracle on usernames)."""
        ...


class RejectionStore(Protocol):
    """Where refused telemetry is kept for its owner (``infra.domain.rejections``)."""

    def record(self, rejections: Sequence[Rejection]) -> list[str]:
        """Store (idempotently by id); raises when they could not be stored."""
        ...

    def list(self, owner_id: str, device_id: str | None = None, limit: int = ...) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Stored:
    """What a telemetry store did with a message's records: how many it stored, and which it refuses for good."""

    indexed: int
    refused: Mapping[int, str] = field(default_factory=dict)  # record index → why it can never be stored


class TelemetryWriter(Protocol):
    """The time-series store, as the pipeline writes to it."""

    def write(self, records: Sequence[Any], *, device_id: str, owner_id: str, received_at: str,
              gateway: str) -> Stored:
        """Store normalised records idempotently (by sensor and timestamp).

        Raises:
            infra.domain.errors.StoreUnavailableError: nothing may be concluded; retry later.
        """
        ...


class ControlStore(Protocol):
    """Where twins, commands and device presence live (docs/device-control.md).

    Lookups return None for missing objects and malformed ids. Times are timezone-aware UTC datetimes.
    """

    def get_twin(self, device_id: str) -> Twin | None: ...

    def get_twins(self, device_ids: Sequence[str]) -> dict[str, Twin]:
        """The stored twins of ``device_ids``, by device id, in one batched read."""
        ...

    def update_twin(self, device_id: str, owner_id: str, change: Callable[[Twin], Twin]) -> Twin:
        """Apply ``change`` to the stored twin (an empty one if none) atomically; return the new twin. ``change``
        may raise (a version conflict), which stores nothing."""
        ...

    def create_command(self, command: Command) -> None: ...
    def get_command(self, command_id: str) -> Command | None: ...

    def update_command(self, command_id: str, change: Callable[[Command], Command]) -> Command | None:
        """Apply ``change`` atomically; None when there is no such command. ``change`` may raise, which stores
        nothing."""
        ...

    def list_commands(self, device_id: str, page: PageRequest,
                      statuses: Sequence[str] | None = None) -> Page[Command]:
        """A device's commands newest first (id order), optionally only those whose stored status is one of
        ``statuses`` (expiry is the caller's to apply)."""
        ...

    def open_commands(self, device_id: str, now: Any, limit: int) -> list[Command]:
        """At most ``limit`` queued and delivered commands of a device that expire after ``now``, oldest first."""
        ...

    def statuses(self, device_ids: Sequence[str], live_since: Any) -> dict[str, Status]:
        """The status of each device id (one batched read); sessions not refreshed since ``live_since`` are
        ignored, and a device never seen has an empty ``Status``."""
        ...

    def record_seen(self, seen: Mapping[str, Sighting]) -> None:
        """Store the ``last_seen`` of each device id, and refresh the sessions each sighting names (one batched
        write)."""
        ...

    def live_instances(self, device_id: str, live_since: Any) -> set[str]:
        """The gateway instances holding a session of the device refreshed since ``live_since`` (one read)."""
        ...

    def open_session(self, device_id: str, owner_id: str, session: str, protocol: str, now: Any) -> None:
        """Record an open WebSocket or MQTT session (``session`` = ``<instance>/<session id>``)."""
        ...

    def close_session(self, device_id: str, session: str) -> None: ...


class ControlBus(Protocol):
    """Nudges to the gateway instances holding a device's sessions: a command to deliver, or a new desired state."""

    def nudge(self, instances: Collection[str], kind: str, device_id: str, body: Mapping[str, Any]) -> None:
        """Leave one nudge (``kind`` is ``command`` or ``config``) for each of ``instances``, at once; raises
        ``PublishError``."""
        ...


class DeletionStore(Protocol):
    """Durable deletion tasks (``infra.domain.deletions``), which outlive any process that works on them."""

    def add(self, deletion: Deletion) -> None: ...
    def get(self, deletion_id: str) -> Deletion | None: ...
    def save(self, deletion: Deletion) -> None: ...
    def discard(self, deletion_id: str) -> None: ...

    def open_deletions(self, owner_id: str | None = None, limit: int = ...) -> list[Deletion]:
        """Unfinished tasks (of ``owner_id``; None: everyone's), oldest first."""
        ...

    def requested_since(self, since: datetime) -> list[Deletion]:
        """Tasks requested at or after ``since`` whose tombstone has not expired (the pipeline's view)."""
        ...


class TelemetryIndices(Protocol):
    """The monthly indices of the time-series store: ``prefix`` then ``YYYY.MM``."""

    prefix: str

    def monthly(self) -> list[str]: ...

    def drop(self, names: Sequence[str]) -> None:
        """Delete these indices, named one by one (never by pattern); missing ones are no error."""
        ...


class ReadingsEraser(Protocol):
    """Erasing readings by a field's value, asynchronously, in the time-series store."""

    def start(self, field: str, value: str) -> str:
        """Start erasing every reading whose ``field`` equals ``value``; return the store's task id."""
        ...

    def finished(self, task_id: str) -> bool | None:
        """Whether that task finished (True), runs (False), or is unknown to the store (None: start again)."""
        ...

    def remaining(self, field: str, value: str) -> int:
        """How many readings whose ``field`` equals ``value`` the store still holds."""
        ...


class DeviceReadings(Protocol):
    """A device's readings in a time range, for its export."""

    def device_readings(self, device_id: str, start_ns: int | None, end_ns: int | None) -> Iterator[dict[str, Any]]:
        """``{"timestamp", "sensor_id", "type", "value"}`` per reading, oldest first, without holding them all."""
        ...

    def count_device_readings(self, device_id: str, start_ns: int | None, end_ns: int | None) -> int: ...


class RuleStore(Protocol):
    """Alert rules, their evaluation state and their alerts (``infra.domain.rules``, ``infra.domain.alerts``)."""

    def create_rule(self, rule: Rule, secret: str) -> None: ...

    def get_rule(self, rule_id: str) -> tuple[Rule, str] | None:
        """The rule and its webhook secret, or None."""
        ...

    def list_rules(self, owner_id: str | None, sensor_id: str | None, page: PageRequest) -> Page[Rule]: ...

    def update_rule(self, rule: Rule, secret: str | None = None) -> bool: ...

    def delete_rule(self, rule_id: str) -> bool:
        """Delete the rule and its state (its alerts stay, as history)."""
        ...

    def rules_of_sensors(self, sensor_ids: Sequence[str]) -> dict[str, list[Rule]]: ...

    def no_data_rules(self) -> list[Rule]: ...

    def apply(self, rules: Sequence[Rule],
              step: Callable[[dict[str, RuleState]], tuple[dict[str, RuleState], list[Alert]]]) -> list[Alert]:
        """In one transaction: read the rules' states, run ``step`` (it may run again if the transaction retries),
        write the new states and the new alerts as unfinished; return the alerts written."""
        ...

    def unfinished_alerts(self, message_key: str | None = None, limit: int = 100) -> list[Alert]:
        """Alerts not yet published and delivered (of one message, or any)."""
        ...

    def finish_alert(self, alert_id: str, delivery: dict[str, Any]) -> None:
        """Mark an alert published, with its webhook delivery log ``{status, attempts: [...]}``."""
        ...

    def list_alerts(self, *, owner_id: str | None = None, sensor_id: str | None = None, rule_id: str | None = None,
                    page: PageRequest) -> Page[dict[str, Any]]: ...


class WebhookSender(Protocol):
    """POSTs one alert to a rule's webhook."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int | None, str | None]:
        """One attempt: (HTTP status or None, error text or None)."""
        ...
