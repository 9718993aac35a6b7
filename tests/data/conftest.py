"""Reading data end to end: the composed API, gateway-http and the pipeline as real processes on the emulators."""

from __future__ import annotations

import pytest
from google.cloud import firestore

from emulators.api_client import ApiClient
from tests.support.accounts import signed_in_admin, user_factory
from tests.support.devices import FIXED_DATES_ENV

PASSWORD = "correct horse battery staple"
# A 1 s revocation cache so a rotated consumer key is refused within the test.
API_ENV = {"IOT_REVOCATION_CACHE_TTL": "1"}


@pytest.fixture(scope="package")
def services(stack):
    """The API (its own instance), gateway-http and the pipeline the push subscription targets."""
    stack.start_service("api", key="data-api", extra_env=API_ENV)
    stack.start_service("gateway-http", key="data-gateway-http", extra_env=FIXED_DATES_ENV)
    stack.start_service("pipeline")
    yield {"api": stack.url("data-api", ""), "gateway": stack.url("data-gateway-http", "")}
    for key in ("pipeline", "data-gateway-http", "data-api"):
        stack.stop_service(key)


@pytest.fixture
def admin(stack, services, firestore_db) -> ApiClient:
    """The development admin, signed in (re-created after the per-test Firestore wipe)."""
    return signed_in_admin(stack.settings(), firestore_db, services["api"])


@pytest.fixture
def new_user(services, admin):
    """A factory of fresh signed-in users."""
    return user_factory(admin, services["api"], PASSWORD)


@pytest.fixture(scope="session")
def firestore_client(stack):
    client = firestore.Client(project=stack.project)
    yield client
    client.close()
