"""Fixtures of the use-case unit tests: the in-memory fakes of the ports (``tests/support/fakes.py``) and three
accounts on them: the bootstrapped admin and two tenants, Alice and Bob."""

from __future__ import annotations

import pytest

from infra.domain.model import User
from infra.usecases import accounts
from infra.usecases.accounts import AdminAccount
from tests.support.fakes import FakePasswords, FakeTokens, InMemoryRepository

ADMIN = AdminAccount("root", "the admin's password")
PASSWORD = "correct horse battery staple"


@pytest.fixture
def repo() -> InMemoryRepository:
    return InMemoryRepository()


@pytest.fixture
def passwords() -> FakePasswords:
    return FakePasswords()


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def admin(repo, passwords) -> User:
    """The bootstrapped admin account."""
    assert accounts.ensure_admin(repo, passwords, ADMIN) is True
    return repo.get_user_by_username(ADMIN.username)


@pytest.fixture
def alice(repo, passwords, admin) -> User:
    """A tenant, created by the admin, with the password ``PASSWORD``."""
    return accounts.create_user(repo, passwords, admin, {"username": "alice", "password": PASSWORD})


@pytest.fixture
def bob(repo, passwords, admin) -> User:
    """Another tenant, with the password ``PASSWORD``."""
    return accounts.create_user(repo, passwords, admin, {"username": "bob", "password": PASSWORD})
