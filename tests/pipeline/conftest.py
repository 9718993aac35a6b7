"""Pipeline under test: real gunicorn processes (pipeline, gateway-http) on the emulators and the ES stand-in."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import datetime, timezone

import orjson
import pytest
from elasticsearch import Elasticsearch

from infra.adapters.elasticsearch import ALIAS, read_points
from tests.support.devices import FIXED_DATES_ENV, SeededDevice, issuer, seed  # noqa: F401  (fixtures used by the tests)

# The gateway must not rate-limit the tests' bursts.
GATEWAY_ENV = {"IOT_INGEST_RATE": "1000", "IOT_INGEST_BURST": "1000", "IOT_REVOCATION_CACHE_TTL": "1",
               **FIXED_DATES_ENV}


@pytest.fixture(scope="package")
def pipeline(stack) -> str:
    """The pipeline on the port the ``telemetry-indexer`` push subscription targets; stopped after this package."""
    stack.start_service("pipeline")
    yield stack.url("pipeline")
    stack.stop_service("pipeline")


@pytest.fixture(scope="package")
def gateway(stack) -> str:
    """A gateway-http instance of these tests (its own port)."""
    stack.start_service("gateway-http", key="pl-gateway-http", extra_env=GATEWAY_ENV)
    yield stack.url("pl-gateway-http")
    stack.stop_service("pl-gateway-http")


@pytest.fixture(scope="session")
def pl_es(stack) -> Elasticsearch:
    """The official client on the stack's Elasticsearch."""
    client = Elasticsearch(stack.es_url, request_timeout=30)
    yield client
    client.close()


def envelope(data: dict | bytes, attributes: dict | None = None, *, message_id: str | None = None) -> bytes:
    """A push request body as Pub/Sub sends it."""
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return orjson.dumps({
        "message": {"data": base64.b64encode(raw).decode(), "attributes": attributes or {},
                    "messageId": message_id or str(uuid.uuid4().int)[:16],
                    "publishTime": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")},
        "subscription": "projects/iot-local/subscriptions/telemetry-indexer",
    })


def telemetry(device: SeededDevice, records: list[dict]) -> tuple[dict, dict]:
    """The data and attributes of a ``telemetry/v1`` message of ``device``, as a gateway publishes it."""
    data = {"device_id": device.id, "owner_id": device.owner_id, "received_at": "2026-11-28T03:00:00.000000000Z",
            "gateway": "http", "records": records}
    attributes = {"device_id": device.id, "owner_id": device.owner_id, "gateway": "http", "schema": "telemetry/v1"}
    return data, attributes


def wait_for_points(es: Elasticsearch, sensor_id: str, sensor_type: str, count: int, timeout: float = 60.0,
                    **query) -> list[dict]:
    """Poll until ``count`` points of the sensor are readable; return them (newest first)."""
    deadline = time.monotonic() + timeout
    points: list[dict] = []
    while time.monotonic() < deadline:
        points, _ = read_points(es, sensor_id, sensor_type, limit=max(count, 1) + 10, **query)
        if len(points) >= count:
            return points
        time.sleep(0.2)
    raise AssertionError(f"expected {count} points of {sensor_id} within {timeout:g}s, got {len(points)}")


def count_documents(es: Elasticsearch, sensor_id: str) -> int:
    es.indices.refresh(index=ALIAS)
    return es.count(index=ALIAS, query={"term": {"sensor_id": sensor_id}}, ignore_unavailable=True)["count"]
