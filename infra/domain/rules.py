"""Alert rules on a sensor's stream and the state machine that evaluates them: pure, no I/O.

Four kinds of rule watch one numeric sensor:

- ``threshold``: the value is ``above`` or ``below`` ``value``; with ``sustained_for`` (seconds) only once the
  condition has held, reading after reading, for that long in event time.
- ``rate``: the value changes by more than ``change`` per ``period`` seconds between consecutive readings
  (``direction``: ``rise``, ``fall`` or ``any``).
- ``no_data``: no reading has arrived for longer than ``period`` seconds. Silence is about arrival, so this kind
  uses the gateway's receive time, not the device's timestamps, and needs a clock: ``tick`` evaluates it.
- ``forecast``: the value will be ``above`` or ``below`` ``value`` within ``period`` seconds (the horizon), by the
  linear trend of the sensor's latest readings (at least ``FORECAST_MIN``, at most ``FORECAST_HISTORY``, kept in the
  rule's state), or already is: the original platform's FORECAST alerts, on the stream, with no history query.

Each rule is a two-state machine (ok, firing): it emits one ``fired`` transition when its condition starts and one
``cleared`` when it ends, never one per reading, so a value that stays high raises one alert.

Evaluation order, late and out-of-order readings: the readings of one message are evaluated per rule in event-time
order (timestamp, then position). A rule remembers the timestamp of the last reading it evaluated
(``RuleState.last_ts``); a reading at or before it is ignored by threshold, rate and forecast rules (it is already history:
re-evaluating it would fire alerts about the past twice or out of order), though it still counts as arrival for
``no_data``. So readings that arrive in order are all evaluated, and one that arrives after a later one is skipped.

Idempotence: every message has a key (its Pub/Sub message id); a state remembers the last ``RECENT_KEYS`` keys it
applied, and applying a remembered key again changes nothing and emits nothing, so a redelivered message fires no
alert twice. Alert ids are derived from (rule, transition, instant), so even a replay past that memory writes the
same alert documents instead of new ones.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from infra.domain.errors import BadRequestError

THRESHOLD, RATE, NO_DATA, FORECAST = "threshold", "rate", "no_data", "forecast"
KINDS = (THRESHOLD, RATE, NO_DATA, FORECAST)
ABOVE, BELOW = "above", "below"
RISE, FALL, ANY = "rise", "fall", "any"
FIRED, CLEARED = "fired", "cleared"

NS = 1_000_000_000
MAX_PERIOD_SECONDS = 30 * 86400  # a rule watches at most a month of history
RULE_NAME_MAX = 100
WEBHOOK_URL_MAX = 2048
# Message keys a state remembers. A redelivery that arrives after later messages of its sensor holds readings at or
# before the rule's last one, which are ignored as late anyway; the keys cover the one that comes first.
RECENT_KEYS = 16
# A forecast rule fits a linear trend to its sensor's latest readings (at least FORECAST_MIN of them, at most
# FORECAST_HISTORY, kept in its state) and asks where the trend is `period` after the latest one.
FORECAST_HISTORY = 60
FORECAST_MIN = 5
RULE_FIELDS = ("name", "sensor_id", "kind", "operator", "value", "sustained_for", "change", "period", "direction",
               "webhook_url", "enabled")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Rule:
    """One alert rule on one sensor; durations in nanoseconds, the webhook optional."""

    id: str
    owner_id: str
    sensor_id: str
    device_id: str
    name: str
    kind: str
    operator: str = ABOVE
    value: float = 0.0
    sustained_ns: int = 0
    change: float = 0.0
    period_ns: int = 0
    direction: str = ANY
    webhook_url: str | None = None
    enabled: bool = True
    created_ns: int = 0

    def public(self) -> dict:
        """The rule as the API shows it (the webhook secret is never part of it)."""
        shown = {"id": self.id, "owner_id": self.owner_id, "sensor_id": self.sensor_id, "device_id": self.device_id,
                 "name": self.name, "kind": self.kind, "webhook_url": self.webhook_url, "enabled": self.enabled}
        if self.kind == THRESHOLD:
            shown.update(operator=self.operator, value=self.value, sustained_for=self.sustained_ns / NS)
        elif self.kind == RATE:
            shown.update(change=self.change, period=self.period_ns / NS, direction=self.direction)
        elif self.kind == FORECAST:
            shown.update(operator=self.operator, value=self.value, period=self.period_ns / NS)
        else:
            shown.update(period=self.period_ns / NS)
        return shown


@dataclass(frozen=True)
class Reading:
    """One numeric reading as a rule sees it: event time, value and arrival time (all ns)."""

    ts: int
    value: float
    received: int


@dataclass(frozen=True)
class Transition:
    """A rule's condition started (``fired``) or ended (``cleared``) at event time ``at`` (ns)."""

    rule_id: str
    kind: str
    at: int
    value: float | None
    reason: str

    @property
    def alert_id(self) -> str:
        """A deterministic id: the same transition always makes the same alert document. It starts with the
        instant counted down from 10^19 ns (the year 2286), so ids sort newest first."""
        digest = hashlib.sha256(f"{self.rule_id}|{self.kind}|{self.at}".encode()).hexdigest()
        return f"{10**19 - self.at:019d}{digest[:16]}"


@dataclass(frozen=True)
class RuleState:
    """What a rule remembers between messages; stored as ``to_dict()`` (plain JSON types)."""

    firing: bool = False
    last_ts: int | None = None  # event time of the last reading evaluated (threshold, rate)
    last_value: float | None = None  # its value (rate)
    pending_since: int | None = None  # event time the sustained condition started holding (threshold)
    last_received: int | None = None  # arrival of the latest reading (no_data)
    recent_keys: tuple[str, ...] = ()
    # The latest readings of a forecast rule, as two flat lists (Firestore stores no arrays of arrays).
    history_ts: tuple[int, ...] = ()
    history_values: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        data = asdict(self)
        for name in ("recent_keys", "history_ts", "history_values"):
            data[name] = list(getattr(self, name))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "RuleState":
        if not data:
            return cls()
        known = {name: data.get(name) for name in cls.__dataclass_fields__ if name in data}
        for name in ("recent_keys", "history_ts", "history_values"):
            known[name] = tuple(known.get(name) or ())
        known["firing"] = bool(known.get("firing"))
        return cls(**known)


def evaluate(rule: Rule, state: RuleState, readings: Iterable[Reading], key: str) -> tuple[RuleState, list[Transition]]:
    """Apply one message's readings (identified by ``key``) to a rule; return the new state and its transitions.

    A key already applied returns the state unchanged and no transitions (redelivery).
    """
    if key in state.recent_keys:
        return state, []
    # Plain locals rather than a new state per reading: this loop runs for every reading of every rule (hot path).
    firing, last_ts, last_value = state.firing, state.last_ts, state.last_value
    pending, last_received = state.pending_since, state.last_received
    history_ts, history_values = list(state.history_ts), list(state.history_values)
    transitions: list[Transition] = []
    for reading in sorted(readings, key=_event_time):
        if last_received is None or reading.received > last_received:
            last_received = reading.received
        if not rule.enabled:
            continue
        if rule.kind == NO_DATA:
            if firing:
                firing = False
                transitions.append(Transition(rule.id, CLEARED, reading.ts, reading.value, "data arrived again"))
            continue
        if last_ts is not None and reading.ts <= last_ts:
            continue  # late or out of order: already history for this rule
        if rule.kind == THRESHOLD:
            holds = reading.value > rule.value if rule.operator == ABOVE else reading.value < rule.value
            if not holds:
                pending = None
                if firing:
                    firing = False
                    reason = f"value {reading.value:g} no longer {rule.operator} {rule.value:g}"
                    transitions.append(Transition(rule.id, CLEARED, reading.ts, reading.value, reason))
            else:
                pending = reading.ts if pending is None else pending
                if not firing and reading.ts - pending >= rule.sustained_ns:
                    firing = True
                    held = f" for {rule.sustained_ns / NS:g} s" if rule.sustained_ns else ""
                    reason = f"value {reading.value:g} {rule.operator} {rule.value:g}{held}"
                    transitions.append(Transition(rule.id, FIRED, reading.ts, reading.value, reason))
        elif rule.kind == FORECAST:
            history_ts.append(reading.ts)
            history_values.append(reading.value)
            del history_ts[:-FORECAST_HISTORY], history_values[:-FORECAST_HISTORY]
            predicted = forecast_at(history_ts, history_values, reading.ts + rule.period_ns)
            if predicted is not None:
                holds = _beyond(rule, predicted) or _beyond(rule, reading.value)
                if holds != firing:
                    firing = holds
                    verb = "heads" if holds else "no longer heads"
                    reason = (f"the trend of the last {len(history_ts)} readings {verb} {rule.operator} "
                              f"{rule.value:g} within {rule.period_ns / NS:g} s (forecast {predicted:g})")
                    transitions.append(Transition(rule.id, FIRED if holds else CLEARED, reading.ts, reading.value,
                                                  reason))
        elif last_ts is not None and last_value is not None:
            per_period = (reading.value - last_value) * rule.period_ns / (reading.ts - last_ts)
            holds = _rate_holds(rule, per_period)
            if holds != firing:
                firing = holds
                verb = "changing by" if holds else "change back to"
                reason = f"{verb} {per_period:+g} per {rule.period_ns / NS:g} s (limit {rule.change:g})"
                transitions.append(Transition(rule.id, FIRED if holds else CLEARED, reading.ts, reading.value, reason))
        last_ts, last_value = reading.ts, reading.value
    recent = (state.recent_keys + (key,))[-RECENT_KEYS:]
    return RuleState(firing, last_ts, last_value, pending, last_received, recent, tuple(history_ts),
                     tuple(history_values)), transitions


def forecast_at(times: list[int], values: list[float], at: int) -> float | None:
    """The least-squares line through (times, values), read at ``at``; None with fewer than FORECAST_MIN points or no
    spread in time."""
    count = len(times)
    if count < FORECAST_MIN:
        return None
    origin = times[0]
    xs = [(t - origin) / NS for t in times]
    mean_x, mean_y = sum(xs) / count, sum(values) / count
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values)) / spread
    return mean_y + slope * ((at - origin) / NS - mean_x)


def _beyond(rule: Rule, value: float) -> bool:
    return value > rule.value if rule.operator == ABOVE else value < rule.value


def tick(rule: Rule, state: RuleState, now_ns: int) -> tuple[RuleState, list[Transition]]:
    """Let time pass for a ``no_data`` rule: fire once when nothing arrived for longer than its period.

    A rule that never saw a reading counts its silence from its creation. Other kinds are unchanged.
    """
    if rule.kind != NO_DATA or not rule.enabled or state.firing:
        return state, []
    since = state.last_received if state.last_received is not None else rule.created_ns
    if now_ns - since <= rule.period_ns:
        return state, []
    # The alert's instant is when the silence crossed the period, so two ticks describe one and the same alert.
    at = since + rule.period_ns
    reason = f"no data for more than {rule.period_ns / NS:g} s"
    return replace(state, firing=True), [Transition(rule.id, FIRED, at, None, reason)]


def _event_time(reading: Reading) -> int:
    return reading.ts


def _rate_holds(rule: Rule, per_period: float) -> bool:
    if rule.direction == RISE:
        return per_period > rule.change
    if rule.direction == FALL:
        return -per_period > rule.change
    return abs(per_period) > rule.change


# ---- request fields ------------------------------------------------------------------------------------------

def parse_rule(body: Mapping[str, Any], *, current: Rule | None = None, allow_http: bool = False) -> dict:
    """Validate a rule body (a whole new rule, or a patch of ``current``); return the fields of the result.

    Durations are seconds in the body and nanoseconds in the result. ``sensor_id`` and ``kind`` are fixed once a
    rule exists. ``allow_http``: accept ``http://`` webhooks to loopback addresses (development and tests).

    Raises:
        BadRequestError: naming the offending field.
    """
    if not isinstance(body, Mapping):
        raise BadRequestError("the body must be a JSON object", code="invalid_body")
    for key in body:
        if key not in RULE_FIELDS:
            if key in ("id", "owner_id", "device_id", "created_at", "updated_at"):
                raise BadRequestError(f"{key} cannot be changed", code="read_only_field", details={"field": key})
            raise BadRequestError(f"unknown field {key!r} (accepted: {', '.join(RULE_FIELDS)})",
                                  code="unknown_field", details={"field": key})
    if current is not None:
        for key in ("sensor_id", "kind"):
            if key in body and body[key] != getattr(current, key):
                raise BadRequestError(f"{key} cannot be changed", code="read_only_field", details={"field": key})
        merged = {**current.public(), **body}
    else:
        for key in ("name", "sensor_id", "kind"):
            if key not in body:
                raise BadRequestError(f"{key} is required", code="missing_field", details={"field": key})
        merged = dict(body)
    kind = merged.get("kind")
    if kind not in KINDS:
        raise _invalid("kind", f"must be one of {', '.join(KINDS)}")
    fields: dict[str, Any] = {"kind": kind, "name": _name(merged.get("name")),
                              "enabled": _flag("enabled", merged.get("enabled", True)),
                              "webhook_url": _webhook(merged.get("webhook_url"), allow_http)}
    if current is None:
        sensor_id = merged.get("sensor_id")
        if not isinstance(sensor_id, str) or not sensor_id:
            raise _invalid("sensor_id", "must be an id string")
        fields["sensor_id"] = sensor_id
    if kind in (THRESHOLD, FORECAST):
        if merged.get("operator") not in (ABOVE, BELOW):
            raise _invalid("operator", f"must be {ABOVE} or {BELOW}")
        fields.update(operator=merged["operator"], value=_number("value", merged.get("value")))
        if kind == THRESHOLD:
            fields["sustained_ns"] = _seconds("sustained_for", merged.get("sustained_for", 0), zero=True)
        else:  # the horizon
            fields["period_ns"] = _seconds("period", merged.get("period"))
    elif kind == RATE:
        change = _number("change", merged.get("change"))
        if change <= 0:
            raise _invalid("change", "must be greater than 0")
        direction = merged.get("direction", ANY)
        if direction not in (RISE, FALL, ANY):
            raise _invalid("direction", f"must be {RISE}, {FALL} or {ANY}")
        fields.update(change=change, period_ns=_seconds("period", merged.get("period")), direction=direction)
    else:
        fields.update(period_ns=_seconds("period", merged.get("period")))
    _refuse_foreign(kind, body)
    return fields


def _refuse_foreign(kind: str, body: Mapping[str, Any]) -> None:
    """Refuse fields of another kind of rule, so a typo in the kind does not silently ignore them."""
    own = {THRESHOLD: {"operator", "value", "sustained_for"}, RATE: {"change", "period", "direction"},
           NO_DATA: {"period"}, FORECAST: {"operator", "value", "period"}}[kind]
    foreign = {"operator", "value", "sustained_for", "change", "period", "direction"} - own
    for key in body:
        if key in foreign:
            raise _invalid(key, f"does not apply to a {kind} rule")


def _invalid(name: str, message: str) -> BadRequestError:
    return BadRequestError(f"{name}: {message}", code="invalid_field", details={"field": name})


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid("name", "must be a non-empty string")
    value = value.strip()
    if len(value) > RULE_NAME_MAX or _CONTROL.search(value):
        raise _invalid("name", f"must be one line of at most {RULE_NAME_MAX} characters")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(name, "must be true or false")
    return value


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(name, "must be a finite number")
    return float(value)


def _seconds(name: str, value: Any, *, zero: bool = False) -> int:
    seconds = _number(name, value)
    if seconds < 0 or (seconds == 0 and not zero) or seconds > MAX_PERIOD_SECONDS:
        low = "0" if zero else "more than 0"
        raise _invalid(name, f"must be {low} and at most {MAX_PERIOD_SECONDS} seconds")
    return round(seconds * NS)


def _webhook(value: Any, allow_http: bool) -> str | None:
    """An https URL (or, with ``allow_http``, an http URL to a loopback address); None or "" means none."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > WEBHOOK_URL_MAX or _CONTROL.search(value):
        raise _invalid("webhook_url", f"must be a URL of at most {WEBHOOK_URL_MAX} characters")
    parts = urlsplit(value)
    if not parts.hostname or parts.username or parts.password:
        raise _invalid("webhook_url", "must be an absolute URL without credentials")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and allow_http and _loopback(parts.hostname):
        return value
    raise _invalid("webhook_url", "must be an https:// URL")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

