"""Fixtures for the Elasticsearch tests: one server per session (a real cluster when ELASTICSEARCH_URL is set,
else the stand-in on a free port), and per test a client plus a unique index-name prefix cleaned up afterwards.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

import pytest
from elasticsearch import Elasticsearch, NotFoundError

from emulators.elastic.launcher import StandIn, start


@pytest.fixture(scope="session")
def es_url(tmp_path_factory) -> str:
    """The URL of the server under test: ``ELASTICSEARCH_URL`` if set, else a stand-in started for the session."""
    url = os.environ.get("ELASTICSEARCH_URL")
    if url:
        yield url
        return
    standin = start(0, str(tmp_path_factory.mktemp("elastic") / "journal.jsonl"))
    yield standin.url
    assert standin.stop() == 0


@pytest.fixture(scope="session")
def is_standin(es_url) -> bool:
    """True when the server under test is the stand-in (it reports build_type "standin")."""
    return Elasticsearch(es_url).info()["version"].get("build_type") == "standin"


@pytest.fixture
def standin_only(es_url, is_standin):
    """Skip a test of a stand-in-only feature when the server under test is a real cluster."""
    if not is_standin:
        pytest.skip("stand-in-only feature; ELASTICSEARCH_URL points at a real cluster")


@pytest.fixture
def private_standin(tmp_path, standin_only):
    """A stand-in of this test's own (faults and restarts must not disturb other tests); stopped after."""
    handles: list[StandIn] = []

    def launch(data_path: str | None = str(tmp_path / "journal.jsonl")) -> StandIn:
        handle = start(0, data_path, log_path=tmp_path / f"standin-{len(handles)}.log")
        handles.append(handle)
        return handle

    yield launch
    for handle in handles:
        handle.stop()


# A mapping of each field type the stand-in supports (those of the platform's template), strict like the template's.
TYPED = {"dynamic": "strict", "properties": {"k": {"type": "keyword"}, "l": {"type": "long"},
                                             "d": {"type": "double"}, "b": {"type": "boolean"},
                                             "ns": {"type": "date_nanos"}}}


@dataclass
class EsTest:
    """A client and the index-name prefix that keeps one test's indices and templates apart from others."""

    client: Elasticsearch
    prefix: str
    templates: list[str] = field(default_factory=list)

    def name(self, suffix: str = "idx") -> str:
        return f"{self.prefix}-{suffix}"

    def create(self, suffix: str = "idx", mappings: dict = TYPED, **kwargs) -> str:
        """Create this test's index ``suffix`` (by default with the ``TYPED`` mapping); return its name."""
        name = self.name(suffix)
        self.client.indices.create(index=name, mappings=mappings, **kwargs)
        return name

    def put(self, index: str, docs: dict[str, dict]) -> dict:
        """Index ``{id: source}`` with one ``_bulk`` of index actions; fail unless every item succeeded."""
        reply = self.client.bulk(operations=[x for doc_id, source in docs.items()
                                             for x in ({"index": {"_index": index, "_id": doc_id}}, source)])
        assert reply["errors"] is False, reply
        return reply

    def put_template(self, suffix: str, patterns: list[str], **kwargs) -> str:
        """Create an index template named after this test (deleted afterwards)."""
        name = self.name(suffix)
        self.client.indices.put_index_template(name=name, index_patterns=patterns, **kwargs)
        self.templates.append(name)
        return name


@pytest.fixture
def es(es_url) -> EsTest:
    """An ``Elasticsearch`` client and a unique prefix; the test's indices and templates are deleted after it."""
    client = Elasticsearch(es_url, request_timeout=60)
    ctx = EsTest(client, f"t-{uuid.uuid4().hex[:12]}")
    yield ctx
    names = list(client.indices.get(index=f"{ctx.prefix}-*", expand_wildcards="all"))
    for start_at in range(0, len(names), 50):
        client.indices.delete(index=",".join(names[start_at:start_at + 50]))
    for name in ctx.templates:
        try:
            client.indices.delete_index_template(name=name)
        except NotFoundError:
            pass
    client.close()
