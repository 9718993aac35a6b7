"""Managing alert rules and reading alerts: the use cases of ``/api/rules`` and ``/api/alerts`` (api-devices) and of
``/api/sensors/{id}/alerts`` (api-data).

Same authorization model as the sensors they watch: the owner and admins manage a rule (another tenant's is 404);
a rule's webhook secret is shown when the rule is created and when it is rotated, never in listings. Consumers
read the alerts of sensors granted to them, through api-data.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from infra.domain.alerts import new_secret
from infra.domain.errors import BadRequestError, NotFoundError
from infra.domain.model import Page, PageRequest, User, can_access, new_id, valid_id
from infra.domain.ports import Repository, RuleStore
from infra.domain.rules import Rule, parse_rule

NUMERIC = ("double", "long")


def create_rule(repo: Repository, store: RuleStore, caller: User, body: Any, *, allow_http: bool) -> tuple[Rule, str]:
    """Create a rule on a numeric sensor the caller may manage; return it with its new webhook secret.

    Raises:
        BadRequestError: a bad body, or a sensor that is not numeric (``not_numeric``).
        NotFoundError: no such sensor, or another owner's.
    """
    fields = parse_rule(body, allow_http=allow_http)
    sensor = repo.get_sensor(fields["sensor_id"]) if valid_id(fields["sensor_id"]) else None
    if sensor is None or not can_access(caller, sensor.owner_id):
        raise NotFoundError("no such sensor", details={"field": "sensor_id"})
    if sensor.type not in NUMERIC:
        raise BadRequestError(f"rules watch numeric sensors; this one is {sensor.type}", code="not_numeric",
                              details={"field": "sensor_id"})
    rule = Rule(id=new_id(), owner_id=sensor.owner_id, device_id=sensor.device_id, created_ns=time.time_ns(),
                **fields)
    secret = new_secret()
    store.create_rule(rule, secret)
    return rule, secret


def get_rule(store: RuleStore, caller: User, rule_id: str) -> Rule:
    """A rule the caller may see (404 otherwise)."""
    found = store.get_rule(rule_id)
    if found is None or not can_access(caller, found[0].owner_id):
        raise NotFoundError("no such rule")
    return found[0]


def list_rules(store: RuleStore, caller: User, sensor_id: str | None, page: PageRequest) -> Page[Rule]:
    """The caller's rules (an admin's: everyone's), optionally of one sensor."""
    return store.list_rules(None if caller.is_admin else caller.id, sensor_id, page)


def update_rule(store: RuleStore, caller: User, rule_id: str, body: Any, *, allow_http: bool) -> Rule:
    """Change a rule's fields (not its sensor or kind); its evaluation state is kept."""
    rule = get_rule(store, caller, rule_id)
    fields = parse_rule(body, current=rule, allow_http=allow_http)
    updated = replace(rule, **fields)
    if not store.update_rule(updated):
        raise NotFoundError("no such rule")
    return updated


def rotate_secret(store: RuleStore, caller: User, rule_id: str) -> tuple[Rule, str]:
    """Give a rule a new webhook secret (the old one stops signing at once); return the rule and the secret."""
    rule = get_rule(store, caller, rule_id)
    secret = new_secret()
    if not store.update_rule(rule, secret):
        raise NotFoundError("no such rule")
    return rule, secret


def delete_rule(store: RuleStore, caller: User, rule_id: str) -> None:
    """Delete a rule and its state; the alerts it raised stay, as history."""
    rule = get_rule(store, caller, rule_id)
    if not store.delete_rule(rule.id):
        raise NotFoundError("no such rule")


def list_alerts(store: RuleStore, caller: User, sensor_id: str | None, rule_id: str | None,
                page: PageRequest) -> Page[dict[str, Any]]:
    """The caller's alerts (an admin's: everyone's), newest first, optionally of one sensor or rule."""
    return store.list_alerts(owner_id=None if caller.is_admin else caller.id, sensor_id=sensor_id, rule_id=rule_id,
                             page=page)


def sensor_alerts(store: RuleStore, sensor_id: str, page: PageRequest) -> Page[dict[str, Any]]:
    """The alerts of a sensor the caller was found to read (owner, admin or a consumer with a grant)."""
    return store.list_alerts(sensor_id=sensor_id, page=page)
