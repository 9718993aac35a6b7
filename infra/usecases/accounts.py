"""Accounts: sign-in with its throttles, user administration and the bootstrapped admin.

Sign-in is throttled twice, with state shared by every instance (the repository):

- per (username, client address): after ``max_failures`` attempts within ``window`` seconds that did not
  succeed, further attempts from that address get 429 with ``Retry-After`` until the oldest counted attempt
  leaves the window, even with the right password;
- per username, across addresses: after ``user_max_failures`` attempts within ``user_window`` from addresses the
  account never signed in from, such addresses get 429 too, so rotating addresses buys no more guesses. The
  addresses of the account's latest successful sign-ins stay exempt: an attacker can keep new addresses out,
  never lock the owner out of the places they sign in from.

Hashing itself is bounded per instance by the password hasher (``infra.adapters.passwords.BoundedPasswords``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from infra.domain.errors import ConflictError, ForbiddenError, NotFoundError, RateLimitedError, UnauthorizedError
from infra.domain.model import (ROLE_ADMIN, SELF_PATCH, SIGN_IN, USER_CREATE, USER_PATCH, DuplicateError, Page,
                         PageRequest, User, new_id, utc_now)
from infra.domain.deletions import USER as USER_DELETION, Deletion
from infra.domain.ports import PasswordHasher, Repository, TokenIssuer
from infra.usecases.deletions import DeletionRequests, delete_erasing
from infra.domain.claims import USER

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class SignInPolicy:
    """How many attempts that did not succeed a (username, address) gets within ``window`` seconds."""

    max_failures: int = 5
    window: int = 300
    user_max_failures: int = 20
    user_window: int = 900


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: the user and their new token."""

    user: User
    token: str
    expires_in: int

    def public(self) -> dict:
        """The sign-in reply."""
        return {"token": self.token, "token_type": "Bearer", "expires_in": self.expires_in,
                "user": self.user.public()}


def sign_in(repo: Repository, passwords: PasswordHasher, issuer: TokenIssuer, policy: SignInPolicy,
            body: dict[str, Any], address: str, *, now: float | None = None) -> SignedIn:
    """Check a username and password and issue a user token (never creates an account: a deleted admin stays
    deleted).

    Raises:
        RateLimitedError: too many attempts from this address for this username (429 + Retry-After).
        UnauthorizedError: code ``invalid_credentials`` for an unknown user or a wrong password alike.
    """
    fields = SIGN_IN.parse(body)
    username, password = fields["username"], fields["password"]
    now = time.time() if now is None else now
    key, user_key = throttle_key(username, address), throttle_key(username, None)
    if not repo.signin_address_known(user_key, key):
        wait = repo.reserve_signin_attempt(user_key, now, policy.user_window, policy.user_max_failures)
        if wait is not None:
            raise RateLimitedError("too many sign-in attempts for this account from new addresses; try again later, "
                               "or from an address it signed in from before", retry_after=math.ceil(wait))
    wait = repo.reserve_signin_attempt(key, now, policy.window, policy.max_failures)
    if wait is not None:
        raise RateLimitedError("too many sign-in attempts; try again later", retry_after=math.ceil(wait))
    user = repo.get_user_by_username(username)
    stored = repo.get_password_hash(user.id) if user is not None else None
    if stored is None:
        passwords.spend_verification_time(password)
        raise _bad_credentials()
    if not passwords.verify(stored, password):
        raise _bad_credentials()
    repo.clear_signin_attempts(key)
    repo.clear_signin_attempts(user_key)  # as with any lockout counter, a success resets it
    repo.remember_signin_address(user_key, key, now)
    token = issuer.issue(USER, user.id, version=user.token_version, role=user.role)
    return SignedIn(user, token, issuer.user_ttl)


def throttle_key(username: str, address: str | None) -> str:
    """The throttle document id of (username, address), or of the username alone (``address`` None): a hash, so
    neither is stored in the clear."""
    scope = "*" if address is None else f"@{address}"
    return hashlib.sha256(f"{username.strip().lower()}\n{scope}".encode()).hexdigest()[:40]


def _bad_credentials() -> UnauthorizedError:
    return UnauthorizedError("wrong username or password", code="invalid_credentials")


# ---- user administration (admins) ----------------------------------------------------------------------------

def create_user(repo: Repository, passwords: PasswordHasher, caller: User, body: dict[str, Any]) -> User:
    """Create an account (admins only).

    Raises:
        ForbiddenError: the caller is not an admin.
        ConflictError: code ``username_taken``.
    """
    _require_admin(caller)
    fields = USER_CREATE.parse(body)
    now = utc_now()
    user = User(id=new_id(), username=fields["username"], name=fields.get("name", fields["username"]),
                role=fields["role"], created_at=now, updated_at=now)
    try:
        repo.create_user(user, passwords.hash(fields["password"]))
    except DuplicateError:
        raise ConflictError(f"username {user.username!r} is taken", code="username_taken",
                            details={"field": "username"}) from None
    return user


def list_users(repo: Repository, caller: User, page: PageRequest) -> Page[User]:
    """Every account (admins only)."""
    _require_admin(caller)
    return repo.list_users(page)


def get_user(repo: Repository, caller: User, user_id: str) -> User:
    """One account (admins only)."""
    _require_admin(caller)
    user = repo.get_user(user_id)
    if user is None:
        raise NotFoundError("no such user")
    return user


def update_user(repo: Repository, passwords: PasswordHasher, caller: User, user_id: str,
                body: dict[str, Any]) -> User:
    """Change an account's name, password or role (admins only; an admin cannot demote themself).

    A new password signs the account out everywhere (its earlier tokens stop working).
    """
    user = get_user(repo, caller, user_id)
    fields = USER_PATCH.parse(body)
    if user.id == caller.id and fields.get("role", user.role) != user.role:
        raise ConflictError("you cannot change your own role", code="cannot_change_own_role")
    return _apply(repo, passwords, user, fields)


def delete_user(repo: Repository, caller: User, user_id: str, erasures: DeletionRequests | None = None
                ) -> Deletion | None:
    """Delete an account with everything it owns (admins only; not the caller's own account).

    Devices, sensors, consumers and grants of the user are deleted with it, so nothing is left that no one
    can manage; their tokens stop working because their devices and consumers are gone. With ``erasures``, the
    erasure of all its readings is requested first and returned.
    """
    user = get_user(repo, caller, user_id)
    if user.id == caller.id:
        raise ConflictError("you cannot delete your own account", code="cannot_delete_self")
    found, deletion = delete_erasing(erasures, USER_DELETION, user.id, user.id, caller,
                                     lambda: repo.delete_user(user.id))
    if not found:
        raise NotFoundError("no such user")
    return deletion


def update_self(repo: Repository, passwords: PasswordHasher, caller: User, body: dict[str, Any]) -> User:
    """Change the caller's own name or password; a new password needs the current one and signs the account
    out everywhere, this session included (sign in again with the new password)."""
    fields = SELF_PATCH.parse(body)
    current = fields.pop("current_password", None)
    if "password" in fields and (current is None or not passwords.verify(repo.get_password_hash(caller.id) or "",
                                                                         current)):
        raise ForbiddenError("changing the password needs the right current_password",
                             code="current_password_required", details={"field": "current_password"})
    return _apply(repo, passwords, caller, fields)


def _apply(repo: Repository, passwords: PasswordHasher, user: User, fields: dict[str, Any]) -> User:
    if not fields:
        return user
    changes = dict(fields)
    password_hash = None
    if "password" in changes:
        password_hash = passwords.hash(changes.pop("password"))
        # Every token issued so far stops working: whoever knew the old password is signed out.
        changes["token_version"] = user.token_version + 1
    changes["updated_at"] = utc_now()
    if not repo.update_user(user.id, changes, password_hash=password_hash):
        raise NotFoundError("no such user")
    return replace(user, **changes)


def _require_admin(caller: User) -> None:
    if not caller.is_admin:
        raise ForbiddenError("this needs the admin role")


# ---- the bootstrapped admin ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AdminAccount:
    """The bootstrapped admin: its username, password, and whether the password was generated here."""

    username: str
    password: str = ""
    generated: bool = False
    password_file: Path | None = None

    def notice(self) -> str:
        """The line ``make dev`` prints about the admin: the password only when it is the generated development one."""
        if self.password_file is not None:
            return (f"  admin  {self.username} / {self.password}   "
                    f"(generated, kept in {self.password_file})")
        return f"  admin  {self.username} (password from IOT_ADMIN_PASSWORD)"


def ensure_admin(repo: Repository, passwords: PasswordHasher, admin: AdminAccount) -> bool:
    """Bootstrap the admin account once: create it unless the step ran before or its username exists.

    Once done, the step is recorded, so an admin deleted afterwards stays deleted (a restart or a sign-in with
    ``IOT_ADMIN_PASSWORD`` never brings it back), and a changed password is never overwritten. The step is per
    username: configuring another admin username bootstraps that one. Returns True when the account was created
    now. Safe to run from several processes at once.
    """
    step = f"admin-{admin.username}"
    if repo.bootstrapped(step):
        return False
    created = False
    if repo.get_user_by_username(admin.username) is None:
        now = utc_now()
        user = User(id=new_id(), username=admin.username, name="Administrator", role=ROLE_ADMIN, created_at=now,
                    updated_at=now)
        try:
            repo.create_user(user, passwords.hash(admin.password))
            created = True
        except DuplicateError:
            pass  # another process bootstrapped it at the same moment
    repo.mark_bootstrapped(step)
    if created:
        logger.info("created the admin account %s", admin.username)
    return created
