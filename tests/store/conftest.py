"""Fixtures for the store tests: one Elasticsearch per session (a real cluster when ELASTICSEARCH_URL is set, else
the stand-in on a free port), a client with the telemetry template installed, and unique sensor ids per test.
"""

from __future__ import annotations

import os
import uuid

import pytest
import requests
from elasticsearch import Elasticsearch

from emulators.elastic.launcher import start
from infra.adapters.elasticsearch import install_template


@pytest.fixture(scope="session")
def store_url(tmp_path_factory) -> str:
    """``ELASTICSEARCH_URL`` if set, else a stand-in of this session (stopped after it)."""
    url = os.environ.get("ELASTICSEARCH_URL")
    if url:
        yield url
        return
    standin = start(0, str(tmp_path_factory.mktemp("store") / "journal.jsonl"))
    yield standin.url
    standin.stop()


@pytest.fixture(scope="session")
def store_is_standin(store_url) -> bool:
    return Elasticsearch(store_url).info()["version"].get("build_type") == "standin"


@pytest.fixture(scope="session")
def store_es(store_url) -> Elasticsearch:
    """The official client on the server under test, with the telemetry template installed."""
    client = Elasticsearch(store_url, request_timeout=30)
    install_template(client)
    yield client
    client.close()


@pytest.fixture
def faults(store_url, store_is_standin):
    """Inject stand-in faults (``faults({"bulk_item_429": 3})``); cleared after the test. Skips on a real cluster."""
    if not store_is_standin:
        pytest.skip("fault injection is a stand-in feature; ELASTICSEARCH_URL points at a real cluster")

    def inject(spec: dict) -> dict:
        response = requests.post(f"{store_url}/_standin/faults", json=spec, timeout=5)
        response.raise_for_status()
        return response.json()["pending"]

    yield inject
    requests.delete(f"{store_url}/_standin/faults", timeout=5)


@pytest.fixture
def sensor():
    """A sensor id no other test uses."""
    return f"s-{uuid.uuid4().hex[:12]}"
