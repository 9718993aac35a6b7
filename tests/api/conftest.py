"""Fixtures of the management API tests: one composed API process (real gunicorn) for the session, and signed-in
clients for the admin and fresh users per test."""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass

import pytest
import requests

from emulators.process import ManagedProcess, free_port, wait_until
from infra.adapters.passwords import SCRYPT
from infra.usecases.accounts import ensure_admin
from infra.wiring.admin import admin_account
from emulators.api_client import ApiClient
from infra.config import ROOT, Settings
from infra.adapters.keys import load_signing_key
from infra.adapters.firestore import FirestoreRepository
from tests.support.accounts import accounts_repository
from run.services import COMPOSED_MEMBERS, CREDENTIALS_DATABASE
from tests.support.names import unique

PASSWORD = "correct horse battery staple"
API_GROUPS = ("api-users", "api-devices", "api-consumers", "api-data")  # the composed members but the console
_SKIPPED_RULES = ("/healthz", "/static/<path:filename>")
_IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
_CONVERTER = re.compile(r"<[^<>]*:([a-z_]+)>")  # <other("self"):user_id> → <user_id>
# The API under test trusts one proxy hop, so tests can pose as different client addresses.
API_ENV = {"IOT_TRUSTED_PROXY_HOPS": "1", "IOT_SIGNIN_MAX_FAILURES": "5", "IOT_SIGNIN_WINDOW": "300",
           "IOT_SIGNIN_MAX_FAILURES_PER_USER": "10", "IOT_SIGNIN_USER_WINDOW": "900"}


@dataclass
class Api:
    """The API process under test: its base URL, the stack's settings and a Firestore repository on the emulator."""

    base_url: str
    settings: object
    repository: FirestoreRepository
    process: ManagedProcess

    def client(self, token: str | None = None) -> ApiClient:
        """A client with ``token`` (anonymous when None)."""
        return ApiClient(self.base_url, token)

    @property
    def admin_password(self) -> str:
        return admin_account(self.settings).password


@pytest.fixture(scope="session")
def api(stack) -> Api:
    """The composed API (``python -m run api``) on a free port of its own, under real gunicorn, for the session.

    It is not one of ``stack``'s named processes, so tests that start and stop the stack's ``api`` are unaffected.
    """
    from google.cloud import firestore

    settings = stack.settings()
    port = free_port()
    env = {**os.environ, **stack.service_env("api"), **API_ENV, "PORT": str(port)}
    process = ManagedProcess("api-tests", [sys.executable, "-m", "run", "api"], env=env, cwd=ROOT,
                             log_path=stack.log_dir / "api-tests.log").start()
    base_url = f"http://127.0.0.1:{port}"
    client = firestore.Client(project=stack.project)
    try:
        wait_until(lambda: requests.get(f"{base_url}/healthz", timeout=1).status_code == 200, timeout=30,
                   what="the API under test", process=process)
        yield Api(base_url, settings, accounts_repository(client), process)
    finally:
        process.stop()
        client.close()


@pytest.fixture
def admin(api) -> ApiClient:
    """A client signed in as the bootstrapped admin (re-created if another test wiped Firestore)."""
    ensure_admin(api.repository, SCRYPT, admin_account(api.settings))
    client = api.client()
    client.signin(api.settings.admin_username, api.admin_password)
    return client


@pytest.fixture
def new_user(api, admin):
    """A factory of fresh users, each returned as a signed-in client with ``.user``."""

    def make(role: str = "user") -> ApiClient:
        username = unique("u").replace("-", "")
        created = admin.create_user(username, PASSWORD, name=f"User {username}", role=role)
        client = api.client()
        client.signin(username, PASSWORD)
        client.user = created
        return client

    return make


@pytest.fixture
def signing_key(api):
    """The private key the API signs with (to mint expired or otherwise special tokens)."""
    return load_signing_key(api.settings)


@pytest.fixture(scope="session")
def served_routes(tmp_path_factory) -> dict[str, list[tuple[str, str]]]:
    """(Flask rule without converters, method) of every route each API group's app serves, without /healthz and
    implicit methods."""
    settings = Settings.from_env({"IOT_DATA_DIR": str(tmp_path_factory.mktemp("route-walk")),
                                  "IOT_CREDENTIALS_DATABASE": CREDENTIALS_DATABASE})
    routes = {}
    for member in COMPOSED_MEMBERS:
        if member.name in API_GROUPS:
            app = importlib.import_module(member.module).create_app(settings)
            routes[member.name] = [(_CONVERTER.sub(r"<\1>", rule.rule), method) for rule in app.url_map.iter_rules()
                                   if rule.rule not in _SKIPPED_RULES
                                   for method in sorted(rule.methods - _IMPLICIT_METHODS)]
    return routes
