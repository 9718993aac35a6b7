"""Users: sign-in and its throttle, administration rules, secrets never returned, JWKS, the bootstrapped admin."""

from __future__ import annotations

import stat

import pytest

from infra.adapters.passwords import SCRYPT
from infra.usecases.accounts import ensure_admin
from infra.wiring.admin import admin_account
from emulators.api_client import ApiError
from infra.config import ConfigError, Settings
from infra.adapters.keys import parse_jwks
from infra.adapters.jwt_tokens import JwtVerifier
from infra.domain.claims import USER
from tests.api.conftest import PASSWORD
from tests.support.names import unique

pytestmark = pytest.mark.e2e


def _name() -> str:
    return unique("user").replace("-", "")


def _raises(call, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return caught.value


def test_signin_returns_an_expiring_token_verified_by_the_published_jwks(api, admin):
    username = _name()
    admin.create_user(username, PASSWORD, name="Ada")
    reply = api.client().signin(username, PASSWORD)
    assert reply["token_type"] == "Bearer" and reply["expires_in"] == api.settings.user_token_ttl
    assert reply["user"]["username"] == username and reply["user"]["role"] == "user"

    jwks = api.client().request("GET", "/.well-known/jwks.json")
    assert jwks.headers["Cache-Control"].startswith("public")
    verifier = JwtVerifier(parse_jwks(jwks.text), api.settings.token_issuer)
    claims = verifier.verify(reply["token"], USER)
    assert claims.subject == reply["user"]["id"]
    assert claims.expires_at - claims.issued_at == api.settings.user_token_ttl


def test_wrong_password_and_unknown_user_look_the_same(api, admin):
    username = _name()
    admin.create_user(username, PASSWORD)
    wrong = _raises(lambda: api.client().signin(username, "not the password"), 401, "invalid_credentials")
    unknown = _raises(lambda: api.client().signin(_name(), PASSWORD), 401, "invalid_credentials")
    assert wrong.message == unknown.message


@pytest.mark.parametrize("body, status, code", [
    ({"username": "x"}, 400, "missing_field"),
    ({"username": "x", "password": "y", "remember": True}, 400, "unknown_field"),
    ({"username": 5, "password": "y"}, 400, "invalid_field"),
])
def test_signin_input_is_strict(api, body, status, code):
    response = api.client().request("POST", "/api/users/signin", json=body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_signin_throttle_per_username_and_address(api, admin):
    username = _name()
    admin.create_user(username, PASSWORD)
    attacker = {"X-Forwarded-For": "10.9.8.7"}
    for _ in range(5):
        _raises(lambda: api.client().signin(username, "guess-guess-guess", headers=attacker), 401,
                "invalid_credentials")
    limited = _raises(lambda: api.client().signin(username, PASSWORD, headers=attacker), 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 300
    # Spoofed entries on the left do not help: the API trusts one proxy, so the client is the last entry.
    _raises(lambda: api.client().signin(username, PASSWORD, headers={"X-Forwarded-For": "1.2.3.4, 10.9.8.7"}),
            429, "rate_limited")
    # The owner, elsewhere, still signs in; other usernames from the attacker's address are not affected.
    assert api.client().signin(username, PASSWORD, headers={"X-Forwarded-For": "10.1.2.3"})["token"]
    other = _name()
    admin.create_user(other, PASSWORD)
    assert api.client().signin(other, PASSWORD, headers=attacker)["token"]


def test_rotating_addresses_is_limited_per_username_but_the_owners_address_stays_open(api, admin):
    username = _name()
    admin.create_user(username, PASSWORD)
    owner = {"X-Forwarded-For": "10.20.30.40"}
    assert api.client().signin(username, PASSWORD, headers=owner)["token"]
    for n in range(10):  # IOT_SIGNIN_MAX_FAILURES_PER_USER in API_ENV: one guess per address
        _raises(lambda: api.client().signin(username, "guess-guess-guess", headers={"X-Forwarded-For": f"10.7.0.{n}"}),
                401, "invalid_credentials")
    limited = _raises(lambda: api.client().signin(username, PASSWORD, headers={"X-Forwarded-For": "10.7.1.1"}),
                      429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 900
    assert api.client().signin(username, PASSWORD, headers=owner)["token"]  # no lockout where the owner signs in


def test_a_successful_signin_resets_the_count(api, admin):
    username = _name()
    admin.create_user(username, PASSWORD)
    here = {"X-Forwarded-For": "10.7.7.7"}
    for _ in range(4):
        _raises(lambda: api.client().signin(username, "guess-guess-guess", headers=here), 401, "invalid_credentials")
    api.client().signin(username, PASSWORD, headers=here)
    for _ in range(4):
        _raises(lambda: api.client().signin(username, "guess-guess-guess", headers=here), 401, "invalid_credentials")
    assert api.client().signin(username, PASSWORD, headers=here)["token"]


def test_secrets_never_appear_in_any_reply(api, admin, new_user):
    user = new_user()
    replies = [
        admin.request("GET", "/api/users"), admin.request("GET", f"/api/users/{user.user['id']}"),
        admin.request("GET", "/api/users/self"), user.request("GET", "/api/users/self"),
        admin.request("PATCH", f"/api/users/{user.user['id']}", json={"password": "another password 1"}),
        api.client().request("POST", "/api/users/signin",
                             json={"username": api.settings.admin_username, "password": api.admin_password}),
        admin.request("POST", "/api/users", json={"username": _name(), "password": PASSWORD}),
    ]
    for reply in replies:
        assert reply.status_code < 300, reply.text
        text = reply.text
        assert api.admin_password not in text
        assert PASSWORD not in text and "password" not in text and "scrypt" not in text, text


@pytest.mark.parametrize("body, status, code", [
    ({"username": "ab", "password": PASSWORD}, 400, "invalid_field"),
    ({"username": "Upper.Case", "password": PASSWORD}, 400, "invalid_field"),
    ({"username": "__reserved__", "password": PASSWORD}, 400, "invalid_field"),
    ({"username": "okname", "password": "short"}, 400, "weak_password"),
    ({"username": "okname", "password": PASSWORD, "role": "root"}, 400, "invalid_field"),
    ({"username": "okname", "password": PASSWORD, "id": "abc"}, 400, "read_only_field"),
    ({"username": "okname", "password": PASSWORD, "email": "a@b"}, 400, "unknown_field"),
    ({"password": PASSWORD}, 400, "missing_field"),
])
def test_user_creation_is_strict(admin, body, status, code):
    response = admin.request("POST", "/api/users", json=body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert response.json()["error"]["details"]["field"] in body or code == "missing_field"


def test_usernames_are_unique(admin):
    username = _name()
    admin.create_user(username, PASSWORD)
    _raises(lambda: admin.create_user(username, PASSWORD), 409, "username_taken")


def test_admin_patch_rules(api, admin, new_user):
    user = new_user()
    uid = user.user["id"]
    for field, value in (("username", "renamed"), ("id", "x"), ("created_at", "2020-01-01T00:00:00Z")):
        _raises(lambda: admin.update_user(uid, **{field: value}), 400, "read_only_field")
    _raises(lambda: admin.update_user(uid, shoe_size=44), 400, "unknown_field")
    assert admin.update_user(uid, name="Grace", role="admin")["role"] == "admin"
    assert len(user.list_users()) >= 2  # the new role applies to the existing token at once
    admin.update_user(uid, password="a brand new password")
    _raises(lambda: api.client().signin(user.user["username"], PASSWORD), 401, "invalid_credentials")
    assert api.client().signin(user.user["username"], "a brand new password")["user"]["name"] == "Grace"


def test_self_service_needs_the_current_password_to_change_it(api, new_user):
    user = new_user()
    assert user.update_me(name="Renamed")["name"] == "Renamed"
    _raises(lambda: user.update_me(password="a new password!"), 403, "current_password_required")
    _raises(lambda: user.update_me(password="a new password!", current_password="wrong"), 403,
            "current_password_required")
    _raises(lambda: user.update_me(role="admin"), 400, "read_only_field")
    user.update_me(password="a new password!", current_password=PASSWORD)
    assert api.client().signin(user.user["username"], "a new password!")["token"]


def test_a_new_password_signs_out_every_earlier_session(api, admin, new_user):
    user = new_user()
    other_session = api.client()
    other_session.signin(user.user["username"], PASSWORD)
    user.update_me(password="a new password!", current_password=PASSWORD)
    for session in (user, other_session):
        error = _raises(session.me, 401, "invalid_token")
        assert "password changed" in error.message
    fresh = api.client()
    fresh.signin(user.user["username"], "a new password!")
    assert fresh.me()["id"] == user.user["id"]

    admin.update_user(user.user["id"], password="reset by the admin")  # an admin's reset too
    _raises(fresh.me, 401, "invalid_token")
    admin.update_user(user.user["id"], name="renamed only")  # other changes keep sessions
    again = api.client()
    again.signin(user.user["username"], "reset by the admin")
    admin.update_user(user.user["id"], name="renamed again")
    assert again.me()["name"] == "renamed again"


def test_an_admin_cannot_delete_or_demote_themself(admin):
    me = admin.me()
    _raises(lambda: admin.delete_user(me["id"]), 409, "cannot_delete_self")
    _raises(lambda: admin.update_user(me["id"], role="user"), 409, "cannot_change_own_role")
    assert admin.me()["role"] == "admin"


def test_deleting_a_user_deletes_what_they_own_and_kills_their_token(api, admin, new_user):
    user = new_user()
    device = user.create_device("doomed")
    sensor = user.create_sensor(device["id"], "t", {"type": "double"})
    consumer = user.create_consumer("doomed reader")
    user.grant(consumer["id"], sensor["id"])

    admin.delete_user(user.user["id"])

    _raises(lambda: user.me(), 401, "invalid_token")
    _raises(lambda: admin.get_device(device["id"]), 404, "not_found")
    _raises(lambda: admin.get_consumer(consumer["id"]), 404, "not_found")
    assert api.repository.get_sensor(sensor["id"]) is None
    assert not api.repository.has_grant(consumer["id"], sensor["id"])
    _raises(lambda: admin.delete_user(user.user["id"]), 404, "not_found")


def test_admin_bootstrap_is_idempotent_and_keeps_a_changed_password(api, tmp_path):
    username = _name()
    settings = Settings.from_env({"IOT_ADMIN_USERNAME": username, "IOT_ADMIN_PASSWORD": "first admin password",
                                  "IOT_DATA_DIR": str(tmp_path)})
    account = admin_account(settings)
    assert ensure_admin(api.repository, SCRYPT, account) is True
    client = api.client()
    assert client.signin(username, "first admin password")["user"]["role"] == "admin"
    client.update_me(password="changed admin password", current_password="first admin password")

    assert ensure_admin(api.repository, SCRYPT, account) is False
    _raises(lambda: api.client().signin(username, "first admin password"), 401, "invalid_credentials")
    assert api.client().signin(username, "changed admin password")["token"]


def test_development_generates_the_admin_password_once_privately(tmp_path):
    settings = Settings.from_env({"IOT_DATA_DIR": str(tmp_path), "IOT_ENV": "development"})
    first, second = admin_account(settings), admin_account(settings)
    assert first.generated and not second.generated
    assert first.password == second.password and len(first.password) >= 20
    path = tmp_path / "admin-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.password in first.notice()


def test_production_refuses_to_start_without_an_admin_password(tmp_path):
    from run.api_users import create_app
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    settings = Settings.from_env({"IOT_ENV": "production", "IOT_SIGNING_KEY": pem, "IOT_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="IOT_ADMIN_PASSWORD"):
        create_app(settings)
    assert not (tmp_path / "admin-password").exists()


def test_the_stack_bootstrap_prints_the_generated_password(stack, api):
    stack.bootstrap_admin()
    password = admin_account(stack.settings()).password
    assert any(password in line and stack.settings().admin_username in line for line in stack.notices)


def test_a_deleted_admin_stays_deleted(api, admin):
    """Signing in with the bootstrap password never recreates a deleted admin (issue 13); another admin deleted it."""
    username, password = _name(), "bootstrap admin password"
    settings = Settings.from_env({"IOT_ADMIN_USERNAME": username, "IOT_ADMIN_PASSWORD": password})
    assert ensure_admin(api.repository, SCRYPT, admin_account(settings)) is True
    doomed = api.client().signin(username, password)["user"]
    admin.delete_user(doomed["id"])
    _raises(lambda: api.client().signin(username, password), 401, "invalid_credentials")
    assert ensure_admin(api.repository, SCRYPT, admin_account(settings)) is False  # a restart bootstraps nothing
    assert api.repository.get_user_by_username(username) is None
