"""Retention: the pipeline's tick drops the monthly indices past IOT_RETENTION_MONTHS, by name, and keeps the rest."""

import pytest

from infra.adapters.elasticsearch import build_document

from emulators.ticks import Ticker
from tests.lifecycle.conftest import tick

pytestmark = pytest.mark.e2e


def _write(es, timestamp: str, sensor_id: str) -> str:
    """One reading in its month's index (created from the platform's template); the index name."""
    doc = build_document({"sensor_id": sensor_id, "type": "double", "timestamp": timestamp, "value": 1.5},
                         device_id="d", owner_id="o", received_at=timestamp, gateway="http")
    reply = es.bulk(operations=[{"index": {"_index": doc.index, "_id": doc.id}}, doc.source], refresh=True)
    assert reply["errors"] is False, reply
    return doc.index


def test_indices_past_the_retention_go_on_the_tick_and_newer_ones_stay(services, lc_es):
    old = [_write(lc_es, "1995-01-15T00:00:00Z", "s-old"), _write(lc_es, "1995-02-15T00:00:00Z", "s-old")]
    kept = _write(lc_es, "2024-06-15T00:00:00Z", "s-kept")
    assert all(lc_es.indices.exists(index=name) for name in old)

    reply = tick(services, "retention")
    assert reply["retention_months"] == 300
    assert set(old) <= set(reply["dropped"]) and kept not in reply["dropped"]
    assert not any(lc_es.indices.exists(index=name) for name in old)
    assert lc_es.indices.exists(index=kept)
    assert lc_es.count(index=kept, query={"term": {"sensor_id": "s-kept"}})["count"] == 1

    assert tick(services, "retention")["dropped"] == []  # idempotent


def test_make_dev_s_ticker_calls_both_ticks_when_due(services):
    clock = [0.0]
    ticker = Ticker(services["pipeline"], interval=30, clock=lambda: clock[0])
    assert ticker.due()
    results = ticker.tick()
    assert set(results) == {"deletions", "retention"}
    assert results["retention"]["retention_months"] == 300 and "open" in results["deletions"]
    assert not ticker.due()
    clock[0] = 30.0
    assert ticker.due()
    assert isinstance(Ticker("http://127.0.0.1:9").tick()["deletions"], Exception)  # refused: logged, not raised
