"""Building and storing readings in the store tests."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from infra.adapters.elasticsearch import Document, build_document, bulk_index


def reading(sensor_id: str, sensor_type: str, timestamp, value, *, device_id: str = "dev-1",
            owner_id: str = "owner-1") -> Document:
    """The document of one reading, built as the pipeline builds it."""
    return build_document({"sensor_id": sensor_id, "type": sensor_type, "timestamp": timestamp, "value": value},
                          device_id=device_id, owner_id=owner_id, received_at="2026-11-28T00:00:00.000000000Z",
                          gateway="test")


def store(es: Elasticsearch, documents: list[Document]) -> None:
    """Index documents and fail the test unless every one was accepted."""
    report = bulk_index(es, documents)
    assert (report.indexed, report.failed, report.retryable) == (len(documents), [], [])
