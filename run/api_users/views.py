"""api-users routes: sign-in, the caller's own account, user administration, and the JWKS."""

from __future__ import annotations

from flask import Blueprint

from infra.usecases import accounts
from infra.web.accepted import accepted
from infra.web.auth import client_address, current_user
from infra.web.paging import page_reply, page_request
from infra.web.app import json_body
from infra.wiring import wiring_of

bp = Blueprint("users", __name__)

USER = '/api/users/<other("self", "signin"):user_id>'  # the static routes beside it keep their 405s
JWKS_MAX_AGE = 300  # verifiers may cache the key set this long; a new key is published before it signs


@bp.post("/api/users/signin")
def signin():
    """Exchange a username and password for a user token."""
    wiring = wiring_of()
    address = client_address(wiring.settings.trusted_proxy_hops)
    signed_in = accounts.sign_in(wiring.repository, wiring.passwords, wiring.issuer, wiring.signin_policy,
                                 json_body(lenient=True), address)
    return signed_in.public()


@bp.get("/api/users/self")
def get_self():
    """The caller's own account."""
    return current_user().public()


@bp.patch("/api/users/self")
def patch_self():
    """Change the caller's own name or password (a new password needs ``current_password``)."""
    user = current_user()
    return accounts.update_self(wiring_of().repository, wiring_of().passwords, user, json_body(lenient=True)).public()


@bp.get("/api/users")
def list_users():
    """Every account (admins)."""
    user = current_user()
    return page_reply(accounts.list_users(wiring_of().repository, user, page_request()))


@bp.post("/api/users")
def create_user():
    """Create an account (admins)."""
    user = current_user()
    created = accounts.create_user(wiring_of().repository, wiring_of().passwords, user, json_body(lenient=True))
    return created.public(), 201, {"Location": f"/api/users/{created.id}"}


@bp.get(USER)
def get_user(user_id: str):
    """One account (admins)."""
    return accounts.get_user(wiring_of().repository, current_user(), user_id).public()


@bp.patch(USER)
def patch_user(user_id: str):
    """Change an account's name, password or role (admins)."""
    user = current_user()
    return accounts.update_user(wiring_of().repository, wiring_of().passwords, user, user_id, json_body(lenient=True)).public()


@bp.delete(USER)
def delete_user(user_id: str):
    """Delete an account and everything it owns (admins; not oneself); 202 while its readings are being erased."""
    wiring = wiring_of()
    return accepted(accounts.delete_user(wiring.repository, current_user(), user_id, wiring.erasures))


@bp.get("/.well-known/jwks.json")
def jwks():
    """The public keys that verify this platform's tokens."""
    return wiring_of().jwks, 200, {"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"}
