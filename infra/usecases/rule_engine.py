"""The rules service's use case: evaluate the rules of the sensors in a pushed telemetry message, and the clock tick
for no-data rules; then publish each new alert on the ``alerts`` topic and deliver it to its rule's webhook.

Order of work for a push, and why it is safe to redeliver:

1. Decode the message (``telemetry/v1``); anything else (a gateway's refusal report, a broken message) is
   acknowledged: the pipeline records it for its owner, and there is nothing to evaluate.
2. The rules of the message's sensors (cached for ``RULES_CACHE_SECONDS`` per instance).
3. One Firestore transaction per batch of rules: read their states, evaluate (``infra.domain.rules.evaluate``, keyed
   by the message id), write the new states and the new alerts, marked unfinished. A redelivered message finds its
   key in the states and evaluates to nothing.
4. Finish the alerts written in step 3, and, when the message was a redelivery, any unfinished ones it caused before
   (a crash between steps 3 and 4): publish on ``alerts`` (a failure answers 503, and Pub/Sub redelivers), then POST
   to the webhook with ``attempts`` tries and doubling backoff, logging every attempt; then mark the alert done.

The tick does the same for the no-data rules, then finishes any alert left unfinished (by a crashed instance whose
message was acknowledged meanwhile), so an alert is never lost silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import orjson

from infra.domain.alerts import (ALERT_ID_HEADER, ALERT_SCHEMA, DELIVERED, FAILED, NO_WEBHOOK, SIGNATURE_HEADER,
                                 Alert, backoff_delays, sign)
from infra.domain.errors import ServiceUnavailableError
from infra.domain.ports import Publisher, PublishError, RuleStore, WebhookSender
from infra.domain.rules import Reading, Rule, RuleState, evaluate, tick
from infra.domain.telemetry import MESSAGE_SCHEMA, RecordError, format_timestamp, parse_timestamp
from infra.usecases.indexing import InvalidMessageError, decode_envelope

logger = logging.getLogger(__name__)

NUMERIC = ("double", "long")
RULES_CACHE_SECONDS = 10.0  # a new or changed rule applies within this long on every instance (docs/rules.md)
RULES_PER_TRANSACTION = 100  # a commit holds the sensors' state documents and the alerts these rules raise


@dataclass(frozen=True)
class Outcome:
    """What one push or tick did."""

    evaluated: int  # rules evaluated
    alerts: int  # alerts finished (published, delivered or failed)


@dataclass(frozen=True)
class Delivery:
    """How webhooks are tried: ``attempts`` in all, the first retry after ``backoff`` seconds, doubling."""

    attempts: int = 5
    backoff: float = 1.0


class RuleEngine:
    """Evaluate rules on pushed telemetry and on ticks; publish and deliver the alerts."""

    def __init__(self, store: RuleStore, publisher: Publisher, webhooks: WebhookSender,
                 delivery: Delivery = Delivery(), sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], int] = time.time_ns):
        self.store = store
        self.publisher = publisher
        self.webhooks = webhooks
        self.delivery = delivery
        self._sleep = sleep
        self._clock = clock
        self._cache: dict[str, tuple[float, list[Rule]]] = {}
        self._lock = threading.Lock()

    def handle_push(self, body: bytes) -> Outcome:
        """Evaluate one pushed message; return when it may be acknowledged.

        Raises:
            ServiceUnavailableError: Firestore or Pub/Sub failed; the message must come again.
        """
        try:
            pushed = decode_envelope(body)
        except InvalidMessageError:
            return Outcome(0, 0)
        if pushed.attributes.get("schema") != MESSAGE_SCHEMA:
            return Outcome(0, 0)
        readings = _readings(pushed.data, self._clock())
        if not readings:
            return Outcome(0, 0)
        rules = [rule for sensor_rules in self._rules_of(list(readings)).values() for rule in sensor_rules]
        key = pushed.message_id
        replayed = []  # set when a rule had applied this message already: a redelivery

        def step(rule: Rule, state: RuleState):
            if key in state.recent_keys:
                replayed.append(rule.id)
            return evaluate(rule, state, readings[rule.sensor_id], key)

        fired = self._apply(rules, step, key)
        if not replayed:
            return Outcome(len(rules), self._finish(fired))
        # A redelivery, maybe after a crash between the commit and the publish: finish what that attempt left.
        finished = {alert.id for alert in fired}
        leftovers = [a for a in self._guard(lambda: self.store.unfinished_alerts(key)) if a.id not in finished]
        return Outcome(len(rules), self._finish(fired + leftovers))

    def tick(self, now_ns: int | None = None) -> Outcome:
        """Let time pass for every no-data rule, then finish any unfinished alert."""
        now_ns = now_ns or self._clock()
        rules = self._guard(self.store.no_data_rules)
        key = f"tick-{now_ns}"
        fired = self._apply(rules, lambda rule, state: tick(rule, state, now_ns), key)
        done = {alert.id for alert in fired}
        leftovers = [a for a in self._guard(self.store.unfinished_alerts) if a.id not in done]
        return Outcome(len(rules), self._finish(fired + leftovers))

    def forget_rules(self) -> None:
        """Drop the cached rules (tests and benchmarks that change rules at once)."""
        with self._lock:
            self._cache.clear()

    # --- steps ------------------------------------------------------------------------------------------------

    def _rules_of(self, sensor_ids: list[str]) -> dict[str, list[Rule]]:
        now = time.monotonic()
        with self._lock:
            cached = {s: hit[1] for s in sensor_ids if (hit := self._cache.get(s)) and hit[0] > now}
        missing = [s for s in sensor_ids if s not in cached]
        if missing:
            fresh = self._guard(lambda: self.store.rules_of_sensors(missing))
            with self._lock:
                for sensor_id in missing:
                    self._cache[sensor_id] = (now + RULES_CACHE_SECONDS, fresh.get(sensor_id, []))
            cached.update(fresh)
        return cached

    def _apply(self, rules: Sequence[Rule], step, key: str) -> list[Alert]:
        fired: list[Alert] = []
        for start in range(0, len(rules), RULES_PER_TRANSACTION):
            batch = {rule.id: rule for rule in rules[start:start + RULES_PER_TRANSACTION]}

            def run(states: dict[str, RuleState]):
                changed, alerts = {}, []
                for rule_id, rule in batch.items():
                    changed[rule_id], transitions = step(rule, states[rule_id])
                    alerts += [Alert.of(rule, transition, key) for transition in transitions]
                return changed, alerts

            fired += self._guard(lambda: self.store.apply(list(batch.values()), run))
        return fired

    def _finish(self, alerts: list[Alert]) -> int:
        """Publish, deliver and mark done each alert (webhook secrets read once per rule)."""
        secrets: dict[str, tuple[Rule, str] | None] = {}
        for alert in alerts:
            event = orjson.dumps(alert.event())
            try:
                self.publisher.publish(event, schema=ALERT_SCHEMA, owner_id=alert.owner_id, sensor_id=alert.sensor_id,
                                       rule_id=alert.rule_id, state=alert.state)
            except PublishError as exc:
                logger.warning("alert %s not published, asking for redelivery: %s", alert.id, exc)
                raise ServiceUnavailableError("the alerts topic is unavailable", retry_after=10,
                                              code="alerts_unavailable") from exc
            if alert.rule_id not in secrets:
                secrets[alert.rule_id] = self._guard(lambda: self.store.get_rule(alert.rule_id))
            found = secrets[alert.rule_id]
            delivery = self._deliver(found[0].webhook_url, found[1], alert, event) if found and found[0].webhook_url \
                else {"status": NO_WEBHOOK, "attempts": []}
            self._guard(lambda: self.store.finish_alert(alert.id, delivery))
        return len(alerts)

    def _deliver(self, url: str, secret: str, alert: Alert, event: bytes) -> dict[str, Any]:
        """POST the alert until a 2xx or the last attempt; the log of every attempt and the outcome."""
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, event), ALERT_ID_HEADER: alert.id}
        attempts = []
        delays = backoff_delays(self.delivery.attempts, self.delivery.backoff) + [None]
        for delay in delays:
            status, error = self.webhooks.post(url, event, headers)
            attempts.append({"at": format_timestamp(self._clock()), "status": status, "error": error})
            if error is None:
                return {"status": DELIVERED, "attempts": attempts}
            if delay is not None:
                self._sleep(delay)
        logger.warning("webhook delivery of alert %s failed after %d attempts: %s", alert.id, len(attempts),
                       attempts[-1]["error"])
        return {"status": FAILED, "attempts": attempts}

    @staticmethod
    def _guard(call):
        """Run a store call; any failure of the store means: try the whole message again later."""
        try:
            return call()
        except ServiceUnavailableError:
            raise
        except Exception as exc:  # the Firestore client raises assorted types
            logger.warning("rule store unavailable: %s", exc)
            raise ServiceUnavailableError("the rule store is unavailable", retry_after=5,
                                          code="rules_unavailable") from exc


def _readings(data: bytes, now_ns: int) -> dict[str, list[Reading]]:
    """The numeric readings of a telemetry message per sensor; arrival time is the gateway's ``received_at``."""
    try:
        message = orjson.loads(data)
        received = parse_timestamp(message.get("received_at"), now_ns)
        records = message.get("records") or []
    except (orjson.JSONDecodeError, AttributeError, RecordError):
        return {}
    readings: dict[str, list[Reading]] = defaultdict(list)
    for record in records:
        if not isinstance(record, dict) or record.get("type") not in NUMERIC:
            continue
        value, sensor_id = record.get("value"), record.get("sensor_id")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(sensor_id, str):
            continue
        try:
            ts = parse_timestamp(record.get("timestamp"), received)
        except RecordError:
            continue
        readings[sensor_id].append(Reading(ts, float(value), received))
    return dict(readings)
