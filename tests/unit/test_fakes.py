"""The fakes of ``tests/support/fakes.py`` have every method of the ports they stand for, with the same parameters
(what they do is checked against Firestore by ``tests/integration/test_repository_contract.py``)."""

from __future__ import annotations

import inspect

import pytest

from infra.domain.ports import PasswordHasher, Repository, TokenIssuer, TokenVerifier
from tests.support.fakes import FakePasswords, FakeTokens, InMemoryRepository


def methods(kind: type) -> dict[str, list[str]]:
    """The public methods of ``kind`` with their parameter names."""
    return {name: list(inspect.signature(member).parameters) for name, member in vars(kind).items()
            if callable(member) and not name.startswith("_")}


@pytest.mark.parametrize("port, fake", [(Repository, InMemoryRepository), (PasswordHasher, FakePasswords),
                                        (TokenIssuer, FakeTokens), (TokenVerifier, FakeTokens)],
                         ids=lambda kind: kind.__name__)
def test_a_fake_has_every_method_of_its_port(port, fake):
    wanted, present = methods(port), methods(fake)
    assert {name: present.get(name) for name in wanted} == wanted
