"""Data lifecycle end to end: the composed API, gateway-http and the pipeline as real processes on the emulators,
with caches of one second (so a deletion starts erasing two seconds after it is requested)."""

from __future__ import annotations

import time

import pytest
import requests
from elasticsearch import Elasticsearch

from emulators.api_client import ApiClient
from tests.support.accounts import signed_in_admin, user_factory
from tests.support.devices import FIXED_DATES_ENV

PASSWORD = "correct horse battery staple"
CACHES = {"IOT_REVOCATION_CACHE_TTL": "1"}
# 300 months (back to 2001): the tests' old indices are from 1995, and no other test's data is that old.
PIPELINE_ENV = {**CACHES, "IOT_RETENTION_MONTHS": "300"}


@pytest.fixture(scope="package")
def services(stack):
    """The API (its own instance), gateway-http and the pipeline the push subscription targets."""
    stack.start_service("api", key="lc-api", extra_env=CACHES)
    stack.start_service("gateway-http", key="lc-gateway-http", extra_env={**CACHES, **FIXED_DATES_ENV})
    stack.start_service("pipeline", extra_env=PIPELINE_ENV)
    yield {"api": stack.url("lc-api", ""), "gateway": stack.url("lc-gateway-http", ""),
           "pipeline": stack.url("pipeline", "")}
    for key in ("pipeline", "lc-gateway-http", "lc-api"):
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
def lc_es(stack) -> Elasticsearch:
    """The official client on the stack's Elasticsearch."""
    client = Elasticsearch(stack.es_url, request_timeout=30)
    yield client
    client.close()


def tick(services, name: str) -> dict:
    """Call one of the pipeline's ticks as Cloud Scheduler does; its reply."""
    reply = requests.post(f"{services['pipeline']}/ticks/{name}", timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def send(services, key: str, records: list[dict]) -> requests.Response:
    return requests.post(services["gateway"] + "/", json=records, headers={"Authorization": f"Bearer {key}"},
                         timeout=30)


def count(es: Elasticsearch, field: str, value: str) -> int:
    return es.count(index="telemetry", query={"term": {field: value}}, ignore_unavailable=True)["count"]


def wait_until_counted(es: Elasticsearch, field: str, value: str, expected: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (found := count(es, field, value)) != expected:
        assert time.monotonic() < deadline, f"{field}={value}: {found} readings, expected {expected}"
        time.sleep(0.2)
