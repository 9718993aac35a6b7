"""api-devices routes of alert rules and alerts: ``/api/rules`` (owner or admin) and ``/api/alerts``."""

from __future__ import annotations

from flask import Blueprint, request

from infra.domain.errors import BadRequestError
from infra.usecases import rules
from infra.web.app import json_body
from infra.web.auth import current_user
from infra.web.paging import page_reply, page_request
from infra.wiring import wiring_of

bp = Blueprint("rules", __name__)


@bp.get("/api/rules")
def list_rules():
    """The caller's rules (admins: everyone's), optionally of one sensor (``?sensor_id=``)."""
    user = current_user()
    return page_reply(rules.list_rules(wiring_of().rules, user, _filter("sensor_id"), page_request()))


@bp.post("/api/rules")
def create_rule():
    """Create a rule on a numeric sensor; the reply holds its webhook secret, shown only here and on rotation."""
    user = current_user()
    wiring = wiring_of()
    rule, secret = rules.create_rule(wiring.repository, wiring.rules, user, json_body(lenient=True),
                                     allow_http=wiring.settings.development)
    return {**rule.public(), "webhook_secret": secret}, 201, {"Location": f"/api/rules/{rule.id}"}


@bp.get("/api/rules/<rule_id>")
def get_rule(rule_id: str):
    """One rule."""
    return rules.get_rule(wiring_of().rules, current_user(), rule_id).public()


@bp.patch("/api/rules/<rule_id>")
def patch_rule(rule_id: str):
    """Change a rule (not its sensor or kind)."""
    user = current_user()
    wiring = wiring_of()
    rule = rules.update_rule(wiring.rules, user, rule_id, json_body(lenient=True),
                             allow_http=wiring.settings.development)
    return rule.public()


@bp.post("/api/rules/<rule_id>/secret/rotate")
def rotate_rule_secret(rule_id: str):
    """A new webhook secret for the rule; the old one signs nothing more."""
    rule, secret = rules.rotate_secret(wiring_of().rules, current_user(), rule_id)
    return {**rule.public(), "webhook_secret": secret}


@bp.delete("/api/rules/<rule_id>")
def delete_rule(rule_id: str):
    """Delete a rule; its alerts stay."""
    rules.delete_rule(wiring_of().rules, current_user(), rule_id)
    return "", 204


@bp.get("/api/alerts")
def list_alerts():
    """The caller's alerts (admins: everyone's), newest first; ``?sensor_id=`` or ``?rule_id=`` narrow them."""
    user = current_user()
    page = rules.list_alerts(wiring_of().rules, user, _filter("sensor_id"), _filter("rule_id"), page_request())
    return {"items": page.items, "next_cursor": page.next_cursor}


def _filter(name: str) -> str | None:
    value = request.args.get(name) or None
    if value is not None and not (value.isascii() and value.isalnum() and len(value) <= 64):
        raise BadRequestError(f"{name} is not an id", code="invalid_query", details={"parameter": name})
    return value
