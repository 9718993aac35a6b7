"""Alert rules, their state and their alerts in Firestore: the ``RuleStore`` port.

Collections: ``rules/{rule_id}`` (the rule's fields, ``secret`` its webhook secret), ``rule_states/{sensor_id}``
(``{"rules": {rule_id: RuleState.to_dict()}}``: what the state machines of a sensor's rules remember, one document
so a message costs one read and one write however many rules watch its sensor) and ``alerts/{alert_id}`` (the alert,
``done`` once it was published and its webhook delivery settled, ``delivery`` its log). Rule states and the alerts
they cause are written in one transaction, so concurrent instances evaluating the same rule cannot both fire it:
Firestore retries the loser, which then sees the winner's state. Alert ids sort newest first, so listings ordered by
document id need only Firestore's automatic single-field indexes.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from infra.adapters.firestore_pages import id_ordered_page
from infra.domain.alerts import NO_WEBHOOK, PENDING, Alert
from infra.domain.model import Page, PageRequest, valid_id
from infra.domain.rules import NO_DATA, Rule, RuleState

RULES, RULE_STATES, ALERTS = "rules", "rule_states", "alerts"
_IN_LIMIT = 30  # Firestore's limit of values in one "in" filter
_RULE_FIELDS = {f.name for f in fields(Rule)}
_ALERT_FIELDS = {f.name for f in fields(Alert)}


class FirestoreRules:
    """The ``RuleStore`` on Firestore."""

    def __init__(self, client: firestore.Client):
        self.db = client

    # --- rules ------------------------------------------------------------------------------------------------

    def create_rule(self, rule: Rule, secret: str) -> None:
        self.db.collection(RULES).document(rule.id).create({**asdict(rule), "secret": secret,
                                                            "updated_at": _now()})

    def get_rule(self, rule_id: str) -> tuple[Rule, str] | None:
        if not valid_id(rule_id):
            return None
        snapshot = self.db.collection(RULES).document(rule_id).get()
        return (_rule(snapshot), snapshot.get("secret")) if snapshot.exists else None

    def list_rules(self, owner_id: str | None, sensor_id: str | None, page: PageRequest) -> Page[Rule]:
        query = self.db.collection(RULES)
        if owner_id is not None:
            query = query.where(filter=FieldFilter("owner_id", "==", owner_id))
        if sensor_id is not None:
            query = query.where(filter=FieldFilter("sensor_id", "==", sensor_id))
        return id_ordered_page(self.db, RULES, query, page, _rule)

    def update_rule(self, rule: Rule, secret: str | None = None) -> bool:
        changes: dict[str, Any] = {**asdict(rule), "updated_at": _now()}
        if secret is not None:
            changes["secret"] = secret
        try:
            self.db.collection(RULES).document(rule.id).update(changes)
        except google_errors.NotFound:
            return False
        return True

    def delete_rule(self, rule_id: str) -> bool:
        if not valid_id(rule_id):
            return False
        ref = self.db.collection(RULES).document(rule_id)

        @firestore.transactional
        def delete(transaction) -> bool:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return False
            transaction.delete(ref)
            state = self.db.collection(RULE_STATES).document(snapshot.get("sensor_id"))
            transaction.set(state, {"rules": {rule_id: firestore.DELETE_FIELD}}, merge=True)
            return True

        return delete(self.db.transaction())

    def rules_of_sensors(self, sensor_ids: Sequence[str]) -> dict[str, list[Rule]]:
        found: dict[str, list[Rule]] = {sensor_id: [] for sensor_id in sensor_ids}
        ids = list(found)
        for start in range(0, len(ids), _IN_LIMIT):
            chunk = ids[start:start + _IN_LIMIT]
            query = self.db.collection(RULES).where(filter=FieldFilter("sensor_id", "in", chunk))
            for snapshot in query.stream():
                rule = _rule(snapshot)
                found[rule.sensor_id].append(rule)
        return found

    def no_data_rules(self) -> list[Rule]:
        query = self.db.collection(RULES).where(filter=FieldFilter("kind", "==", NO_DATA))
        return [rule for rule in map(_rule, query.stream()) if rule.enabled]

    # --- evaluation -------------------------------------------------------------------------------------------

    def apply(self, rules: Sequence[Rule],
              step: Callable[[dict[str, RuleState]], tuple[dict[str, RuleState], list[Alert]]]) -> list[Alert]:
        states = self.db.collection(RULE_STATES)
        alerts = self.db.collection(ALERTS)
        by_sensor: dict[str, list[str]] = {}
        for rule in rules:
            by_sensor.setdefault(rule.sensor_id, []).append(rule.id)
        refs = [states.document(sensor_id) for sensor_id in by_sensor]

        @firestore.transactional
        def run(transaction) -> list[Alert]:
            current = {rule.id: RuleState() for rule in rules}
            stored: dict[str, dict] = {}
            for snapshot in self.db.get_all(refs, transaction=transaction):
                stored[snapshot.id] = dict((snapshot.to_dict() or {}).get("rules", {})) if snapshot.exists else {}
                for rule_id in by_sensor[snapshot.id]:
                    current[rule_id] = RuleState.from_dict(stored[snapshot.id].get(rule_id))
            changed, fired = step(current)
            for sensor_id, rule_ids in by_sensor.items():
                updates = {rule_id: changed[rule_id].to_dict() for rule_id in rule_ids
                           if rule_id in changed and changed[rule_id] != current[rule_id]}
                if updates:
                    # The whole map, as read in this transaction plus the changes: a merge would send a field mask
                    # of every rule's every field, far costlier than the document itself.
                    whole = {**stored.get(sensor_id, {}), **updates}
                    rule = next(rule for rule in rules if rule.sensor_id == sensor_id)
                    # Owner, device and sensor ids: deleting any of them deletes the states too (firestore.py).
                    transaction.set(states.document(sensor_id), {"rules": whole, "owner_id": rule.owner_id,
                                                                 "device_id": rule.device_id, "sensor_id": sensor_id})
            now = _now()
            for alert in fired:
                transaction.set(alerts.document(alert.id), {**asdict(alert), "done": False, "created_at": now,
                                                            "delivery": {"status": PENDING, "attempts": []}})
            return fired

        return run(self.db.transaction())

    def unfinished_alerts(self, message_key: str | None = None, limit: int = 100) -> list[Alert]:
        query = self.db.collection(ALERTS).where(filter=FieldFilter("done", "==", False))
        if message_key is not None:
            query = query.where(filter=FieldFilter("message_key", "==", message_key))
        return [_alert(snapshot.to_dict()) for snapshot in query.limit(limit).stream()]

    def finish_alert(self, alert_id: str, delivery: dict[str, Any]) -> None:
        self.db.collection(ALERTS).document(alert_id).update({"done": True, "delivery": delivery})

    def list_alerts(self, *, owner_id: str | None = None, sensor_id: str | None = None, rule_id: str | None = None,
                    page: PageRequest) -> Page[dict[str, Any]]:
        query = self.db.collection(ALERTS)
        for name, value in (("owner_id", owner_id), ("sensor_id", sensor_id), ("rule_id", rule_id)):
            if value is not None:
                query = query.where(filter=FieldFilter(name, "==", value))
        return id_ordered_page(self.db, ALERTS, query, page, _alert_reply)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _rule(snapshot) -> Rule:
    data = snapshot.to_dict()
    return Rule(**{name: data[name] for name in _RULE_FIELDS if name in data})


def _alert(data: dict[str, Any]) -> Alert:
    return Alert(**{name: data.get(name) for name in _ALERT_FIELDS})


def _alert_reply(snapshot) -> dict[str, Any]:
    """An alert as the API lists it: the event, whether it is settled, and its webhook delivery log."""
    data = snapshot.to_dict()
    delivery = data.get("delivery") or {"status": NO_WEBHOOK, "attempts": []}
    return {**_alert(data).event(), "done": bool(data.get("done")), "delivery": delivery}
