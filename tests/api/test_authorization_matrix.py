"""Every route of the management API against every kind of caller, each cell asserting the exact status.

Callers: the admin, user A (who owns the objects), user B (another tenant), A's consumer token, A's device token,
an expired user token of A, a token of A signed by another key under the real kid, an ``alg: none`` token, and
no token. Rules: no token → 401 ``unauthorized``; any token not valid for a user route → 401 ``invalid_token``;
a role the route needs → 403; another tenant's object → 404.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import pytest
import requests

from emulators.api_client import ApiError
from tests.api.conftest import PASSWORD
from tests.support import forged_tokens as forge

CALLERS = ("admin", "owner", "other", "consumer", "device", "expired", "foreign_key", "alg_none", "no_token")
BAD_TOKENS = ("consumer", "device", "expired", "foreign_key", "alg_none")


@dataclass
class World:
    """Objects of user A that a cell acts on: device with two sensors and a command, a consumer granted the first sensor."""

    device: str
    sensor: str
    spare_sensor: str
    consumer: str
    victim_user: str
    command: str
    deletion: str  # of a third sensor, deleted
    rule: str


@dataclass(frozen=True)
class Route:
    """One route under test: method, Flask rule, how to fill it, the body, and the expected status per caller."""

    method: str
    rule: str
    expect: dict[str, int]
    body: Callable[[World], dict] | None = None
    mutates: bool = False  # needs a fresh world per cell

    def path(self, world: World) -> str:
        return (self.rule.replace("<user_id>", world.victim_user).replace("<device_id>", world.device)
                .replace("<sensor_id>", world.sensor).replace("<consumer_id>", world.consumer)
                .replace("<command_id>", world.command).replace("<deletion_id>", world.deletion)
                .replace("<rule_id>", world.rule))


def _expect(admin: int, owner: int, other: int, public: int | None = None) -> dict[str, int]:
    """Statuses for the three signed-in callers; every bad or missing token gets 401 (``public`` for open routes)."""
    statuses = {"admin": admin, "owner": owner, "other": other}
    for caller in (*BAD_TOKENS, "no_token"):
        statuses[caller] = 401 if public is None else public
    return statuses


OWNED = dict(admin=200, owner=200, other=404)  # an object of user A
MINE = dict(admin=200, owner=200, other=200)  # the caller's own things
ADMIN_ONLY = dict(admin=200, owner=403, other=403)

ROUTES = [
    Route("POST", "/api/users/signin", _expect(200, 200, 200, public=200),
          body=lambda w: {"username": "matrix-b", "password": PASSWORD}),
    Route("GET", "/.well-known/jwks.json", _expect(200, 200, 200, public=200)),
    Route("GET", "/api/users/self", _expect(**MINE)),
    Route("PATCH", "/api/users/self", _expect(**MINE), body=lambda w: {"name": "Renamed Self"}),
    Route("GET", "/api/users", _expect(**ADMIN_ONLY)),
    Route("POST", "/api/users", _expect(201, 403, 403),
          body=lambda w: {"username": f"m{time.time_ns()}", "password": PASSWORD}),
    Route("GET", "/api/users/<user_id>", _expect(**ADMIN_ONLY)),
    Route("PATCH", "/api/users/<user_id>", _expect(**ADMIN_ONLY), body=lambda w: {"name": "Renamed"}),
    Route("DELETE", "/api/users/<user_id>", _expect(202, 403, 403), mutates=True),
    Route("GET", "/api/devices", _expect(**MINE)),
    Route("POST", "/api/devices", _expect(201, 201, 201), body=lambda w: {"name": "matrix device"}),
    Route("GET", "/api/devices/<device_id>", _expect(**OWNED)),
    Route("PATCH", "/api/devices/<device_id>", _expect(**OWNED), body=lambda w: {"description": "patched"}),
    Route("DELETE", "/api/devices/<device_id>", _expect(202, 202, 404), mutates=True),
    Route("GET", "/api/devices/<device_id>/key", _expect(**OWNED)),
    Route("POST", "/api/devices/<device_id>/key/rotate", _expect(**OWNED), mutates=True),
    Route("GET", "/api/devices/<device_id>/tree", _expect(**OWNED)),
    Route("GET", "/api/devices/<device_id>/rejections", _expect(**OWNED)),
    Route("GET", "/api/devices/<device_id>/sensors", _expect(**OWNED)),
    Route("GET", "/api/devices/<device_id>/twin", _expect(**OWNED)),
    Route("PUT", "/api/devices/<device_id>/twin/desired", _expect(**OWNED), body=lambda w: {"rate": 5}),
    Route("GET", "/api/devices/<device_id>/commands", _expect(**OWNED)),
    Route("POST", "/api/devices/<device_id>/commands", _expect(201, 201, 404), body=lambda w: {"name": "reboot"}),
    Route("GET", "/api/devices/<device_id>/commands/<command_id>", _expect(**OWNED)),
    Route("POST", "/api/devices/<device_id>/sensors", _expect(201, 201, 404),
          body=lambda w: {"name": "matrix sensor", "mapping": {"type": "long"}}),
    Route("GET", "/api/devices/<device_id>/sensors/<sensor_id>", _expect(**OWNED)),
    Route("PATCH", "/api/devices/<device_id>/sensors/<sensor_id>", _expect(**OWNED),
          body=lambda w: {"path": ["A", "B"]}),
    Route("DELETE", "/api/devices/<device_id>/sensors/<sensor_id>", _expect(202, 202, 404), mutates=True),
    Route("GET", "/api/deletions", _expect(**MINE)),
    Route("GET", "/api/deletions/<deletion_id>", _expect(**OWNED)),
    Route("GET", "/api/consumers", _expect(**MINE)),
    Route("POST", "/api/consumers", _expect(201, 201, 201), body=lambda w: {"name": "matrix consumer"}),
    Route("GET", "/api/consumers/<consumer_id>", _expect(**OWNED)),
    Route("PATCH", "/api/consumers/<consumer_id>", _expect(**OWNED), body=lambda w: {"name": "patched"}),
    Route("DELETE", "/api/consumers/<consumer_id>", _expect(204, 204, 404), mutates=True),
    Route("GET", "/api/consumers/<consumer_id>/key", _expect(**OWNED)),
    Route("POST", "/api/consumers/<consumer_id>/key/rotate", _expect(**OWNED), mutates=True),
    Route("GET", "/api/consumers/<consumer_id>/sensors", _expect(**OWNED)),
    Route("POST", "/api/consumers/<consumer_id>/sensors", _expect(201, 201, 404), mutates=True,
          body=lambda w: {"sensor_id": w.spare_sensor}),
    Route("DELETE", "/api/consumers/<consumer_id>/sensors/<sensor_id>", _expect(204, 204, 404), mutates=True),
    Route("GET", "/api/rules", _expect(**MINE)),
    Route("POST", "/api/rules", _expect(201, 201, 404), body=lambda w: {
        "name": "matrix rule", "sensor_id": w.sensor, "kind": "threshold", "operator": "above", "value": 1}),
    Route("GET", "/api/rules/<rule_id>", _expect(**OWNED)),
    Route("PATCH", "/api/rules/<rule_id>", _expect(**OWNED), body=lambda w: {"name": "patched"}),
    Route("DELETE", "/api/rules/<rule_id>", _expect(204, 204, 404), mutates=True),
    Route("POST", "/api/rules/<rule_id>/secret/rotate", _expect(**OWNED), mutates=True),
    Route("GET", "/api/alerts", _expect(**MINE)),
]


@pytest.fixture
def callers(api, admin, new_user, signing_key):
    """The bearer token of each caller (None: no header) and user A's client to build worlds with."""
    owner = new_user()
    other = new_user()
    try:
        admin.create_user("matrix-b", PASSWORD)
    except ApiError as exc:  # made by an earlier test of this session: fine, it only signs in
        assert exc.code == "username_taken"
    device = owner.create_device("token device")
    consumer = owner.create_consumer("token consumer")
    now = int(time.time())
    a_id = owner.user["id"]
    claims = {"iss": api.settings.token_issuer, "sub": a_id, "aud": "user", "jti": "matrix"}
    tokens = {
        "admin": admin.token,
        "owner": owner.token,
        "other": other.token,
        "consumer": owner.consumer_key(consumer["id"])["token"],
        "device": owner.device_key(device["id"])["token"],
        "expired": forge.resigned(signing_key, {**claims, "iat": now - 7200, "exp": now - 3600}),
        "foreign_key": forge.signed_by_stranger(signing_key.kid, {**claims, "iat": now, "exp": now + 600}),
        "alg_none": forge.unsigned(signing_key.kid, {**claims, "iat": now, "exp": now + 600}),
        "no_token": None,
    }
    return tokens, owner, admin


def _world(owner, admin) -> World:
    device = owner.create_device("matrix")
    sensor = owner.create_sensor(device["id"], "s1", {"type": "double"}, path=["G"])
    spare = owner.create_sensor(device["id"], "s2", '{"type": "boolean"}')
    consumer = owner.create_consumer("matrix consumer")
    owner.grant(consumer["id"], sensor["id"])
    victim = admin.create_user(f"v{time.time_ns()}", PASSWORD)
    command = owner.send_command(device["id"], "reboot")
    deleted = owner.create_sensor(device["id"], "s3", {"type": "long"})
    deletion = owner.delete_sensor(device["id"], deleted["id"])
    rule = owner.call("POST", "/api/rules", json={"name": "r", "sensor_id": sensor["id"], "kind": "no_data",
                                                   "period": 60})
    return World(device["id"], sensor["id"], spare["id"], consumer["id"], victim["id"], command["id"], deletion["id"],
                 rule["id"])


def test_every_management_route_is_in_the_matrix(served_routes):
    covered = {(route.method, route.rule) for route in ROUTES}
    served = {(method, rule) for group in ("api-users", "api-devices", "api-consumers")
              for rule, method in served_routes[group]}
    assert served - covered == set(), "routes without a row in the authorization matrix"
    assert covered - served == set(), "matrix rows for routes that do not exist"


@pytest.mark.e2e
def test_authorization_matrix(api, callers):
    tokens, owner, admin = callers
    shared = _world(owner, admin)
    session = requests.Session()
    mismatches, cells = [], 0
    for route in ROUTES:
        for caller in CALLERS:
            world = _world(owner, admin) if route.mutates else shared
            headers = {"Authorization": f"Bearer {tokens[caller]}"} if tokens[caller] else {}
            body = route.body(world) if route.body else None
            response = session.request(route.method, api.base_url + route.path(world), json=body, headers=headers,
                                       timeout=30)
            expected = route.expect[caller]
            problem = _check(response, expected, caller)
            if problem:
                mismatches.append(f"{route.method:6} {route.rule:50} {caller:12} {problem}")
            cells += 1
    assert cells == len(ROUTES) * len(CALLERS)
    assert not mismatches, "authorization matrix mismatches:\n" + "\n".join(mismatches)


def _check(response: requests.Response, expected: int, caller: str) -> str | None:
    """What is wrong with ``response`` for this cell (None when it is right)."""
    got = response.status_code
    code = _error_code(response)
    if got != expected:
        return f"expected {expected}, got {got} ({code})"
    if got == 401:
        wanted = "unauthorized" if caller == "no_token" else "invalid_token"
        challenge = response.headers.get("WWW-Authenticate", "")
        if code != wanted:
            return f"expected error code {wanted}, got {code}"
        if caller != "no_token" and 'error="invalid_token"' not in challenge:
            return f"WWW-Authenticate lacks error=\"invalid_token\": {challenge!r}"
        if not challenge.startswith("Bearer"):
            return f"WWW-Authenticate is not a Bearer challenge: {challenge!r}"
    if got >= 400 and code is None:
        return "error reply is not the JSON error shape"
    return None


def _error_code(response: requests.Response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
