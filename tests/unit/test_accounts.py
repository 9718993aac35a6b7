"""Account rules through the use cases on the in-memory repository: sign-in (a wrong password and an unknown user
look alike; attempts are throttled per username and address), a new password signs every session out, only admins
administer accounts, and the admin is bootstrapped once."""

from __future__ import annotations

import pytest

from infra.domain.claims import USER
from infra.domain.errors import ConflictError, ForbiddenError, RateLimitedError, UnauthorizedError
from infra.domain.model import PageRequest
from infra.usecases import accounts
from infra.usecases.accounts import SignInPolicy
from tests.unit.conftest import ADMIN, PASSWORD

POLICY = SignInPolicy(max_failures=3, window=60)
HERE, ELSEWHERE = "198.51.100.7", "203.0.113.9"


@pytest.fixture
def sign_in(repo, passwords, tokens):
    """``sign_in(username, password, at=time, address=HERE)`` through the use case, with ``POLICY``."""

    def attempt(username: str, password: str, *, at: float = 1000.0, address: str = HERE):
        return accounts.sign_in(repo, passwords, tokens, POLICY, {"username": username, "password": password},
                                address, now=at)

    return attempt


def test_signing_in_issues_a_user_token_of_the_accounts_version_and_role(alice, tokens, sign_in):
    signed_in = sign_in("alice", PASSWORD)
    assert signed_in.user == alice and signed_in.expires_in == tokens.user_ttl
    claims = tokens.verify(signed_in.token, USER)
    assert (claims.subject, claims.version, claims.role) == (alice.id, 1, "user")


def test_a_wrong_password_and_an_unknown_user_look_alike(alice, passwords, sign_in):
    refusals = []
    for username, password in (("alice", "not her password"), ("nobody", PASSWORD)):
        before = passwords.verifications
        with pytest.raises(UnauthorizedError) as caught:
            sign_in(username, password)
        refusals.append((caught.value.status, caught.value.code, caught.value.message,
                         passwords.verifications - before))  # an unknown user costs a verification too
    assert refusals[0] == refusals[1] == (401, "invalid_credentials", refusals[0][2], 1)


def test_attempts_beyond_the_limit_are_refused_even_with_the_right_password(alice, sign_in):
    for second in range(3):
        with pytest.raises(UnauthorizedError):
            sign_in("alice", "a wrong guess", at=1000.0 + second)
    with pytest.raises(RateLimitedError) as caught:
        sign_in("alice", PASSWORD, at=1010.0)
    assert caught.value.retry_after == 50 and caught.value.headers["Retry-After"] == "50"  # until 1000 + 60
    assert sign_in("alice", PASSWORD, at=1010.0, address=ELSEWHERE).user == alice  # the owner is not locked out
    assert sign_in("alice", PASSWORD, at=1061.0).user == alice  # the first guess has left the window


def test_rotating_addresses_buys_no_more_guesses_but_the_owners_addresses_stay_open(alice, repo, passwords,
                                                                                  tokens):
    policy = SignInPolicy(max_failures=3, window=60, user_max_failures=4, user_window=600)

    def attempt(password: str, address: str, at: float):
        return accounts.sign_in(repo, passwords, tokens, policy, {"username": "alice", "password": password},
                                address, now=at)

    assert attempt(PASSWORD, "10.0.0.1", 900.0).user == alice  # the owner's usual address
    for n in range(4):  # an attacker, a fresh address per guess
        with pytest.raises(UnauthorizedError):
            attempt("a wrong guess", f"192.0.2.{n}", 1000.0 + n)
    with pytest.raises(RateLimitedError) as caught:  # a fifth new address, even with the right password
        attempt(PASSWORD, "192.0.2.99", 1010.0)
    assert caught.value.retry_after == 590  # until the first of the four leaves the 600 s window
    assert attempt(PASSWORD, "10.0.0.1", 1011.0).user == alice  # where the owner signed in before: open
    assert attempt(PASSWORD, "192.0.2.99", 1601.0).user == alice  # the window passed


def test_a_successful_sign_in_clears_the_count(alice, sign_in):
    for round_start in (1000.0, 1010.0):
        for second in range(2):
            with pytest.raises(UnauthorizedError):
                sign_in("alice", "a wrong guess", at=round_start + second)
        assert sign_in("alice", PASSWORD, at=round_start + 2).user == alice


def test_a_new_password_bumps_the_token_version_and_replaces_the_old_one(repo, passwords, tokens, alice, sign_in):
    changed = accounts.update_self(repo, passwords, alice, {"password": "a brand new password",
                                                            "current_password": PASSWORD})
    assert changed.token_version == 2 and repo.get_user(alice.id).token_version == 2
    with pytest.raises(UnauthorizedError):
        sign_in("alice", PASSWORD)
    signed_in = sign_in("alice", "a brand new password", address=ELSEWHERE)
    assert tokens.verify(signed_in.token, USER).version == 2


def test_a_new_password_needs_the_current_one(repo, passwords, alice):
    for body in ({"password": "a brand new password"},
                 {"password": "a brand new password", "current_password": "a wrong guess"}):
        with pytest.raises(ForbiddenError) as caught:
            accounts.update_self(repo, passwords, alice, body)
        assert caught.value.code == "current_password_required"
    assert repo.get_user(alice.id) == alice


def test_a_new_name_keeps_the_sessions(repo, passwords, alice):
    assert accounts.update_self(repo, passwords, alice, {"name": "Alice"}).token_version == 1
    assert repo.get_user(alice.id).name == "Alice"


def test_an_admin_setting_a_password_bumps_the_token_version(repo, passwords, admin, alice):
    accounts.update_user(repo, passwords, admin, alice.id, {"password": "set by the admin"})
    stored = repo.get_user(alice.id)
    assert stored.token_version == 2 and passwords.verify(repo.get_password_hash(stored.id), "set by the admin")


def test_only_admins_administer_accounts(repo, passwords, alice, bob):
    calls = (lambda: accounts.create_user(repo, passwords, alice, {"username": "carol", "password": PASSWORD}),
             lambda: accounts.list_users(repo, alice, PageRequest()),
             lambda: accounts.get_user(repo, alice, bob.id),
             lambda: accounts.update_user(repo, passwords, alice, bob.id, {"role": "admin"}),
             lambda: accounts.delete_user(repo, alice, bob.id))
    for call in calls:
        with pytest.raises(ForbiddenError):
            call()
    assert repo.get_user(bob.id) == bob and repo.get_user_by_username("carol") is None


def test_a_taken_username_is_a_conflict(repo, passwords, admin, alice):
    with pytest.raises(ConflictError) as caught:
        accounts.create_user(repo, passwords, admin, {"username": "alice", "password": "another password"})
    assert caught.value.code == "username_taken" and repo.get_user_by_username("alice") == alice


def test_an_admin_neither_demotes_nor_deletes_themself(repo, passwords, admin):
    with pytest.raises(ConflictError):
        accounts.update_user(repo, passwords, admin, admin.id, {"role": "user"})
    with pytest.raises(ConflictError):
        accounts.delete_user(repo, admin, admin.id)
    assert repo.get_user(admin.id) == admin


# ---- the bootstrapped admin ----------------------------------------------------------------------------------

def test_the_admin_is_bootstrapped_once_and_its_changed_password_kept(repo, passwords, admin, sign_in):
    assert admin.is_admin and admin.username == ADMIN.username
    assert accounts.ensure_admin(repo, passwords, ADMIN) is False
    assert [user.id for user in repo.list_users(PageRequest()).items] == [admin.id]
    accounts.update_self(repo, passwords, admin, {"password": "the admin's new one",
                                                  "current_password": ADMIN.password})
    assert accounts.ensure_admin(repo, passwords, ADMIN) is False
    with pytest.raises(UnauthorizedError):
        sign_in(ADMIN.username, ADMIN.password)
    assert sign_in(ADMIN.username, "the admin's new one", address=ELSEWHERE).user.id == admin.id


def test_a_deleted_admin_stays_deleted(repo, passwords, admin, sign_in):
    """Issue 13: signing in with the bootstrap password, or bootstrapping again (a restart), never recreates it."""
    assert repo.delete_user(admin.id)  # e.g. by another admin (an admin cannot delete itself)
    with pytest.raises(UnauthorizedError):
        sign_in(ADMIN.username, ADMIN.password)
    assert accounts.ensure_admin(repo, passwords, ADMIN) is False
    assert repo.get_user_by_username(ADMIN.username) is None


def test_the_bootstrap_creates_the_admin_on_a_fresh_store_only(repo, passwords, sign_in):
    with pytest.raises(UnauthorizedError):  # signing in creates no one, not even the admin
        sign_in(ADMIN.username, ADMIN.password)
    assert repo.list_users(PageRequest()).items == []
    assert accounts.ensure_admin(repo, passwords, ADMIN) is True
    assert sign_in(ADMIN.username, ADMIN.password, address=ELSEWHERE).user.is_admin
