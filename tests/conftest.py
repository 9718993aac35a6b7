"""Session fixtures: the local stack on free ports, started once; Firestore wiped between tests."""

from __future__ import annotations

import os

import pytest

from emulators import gcloud
from emulators.stack import LocalStack, Ports


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> LocalStack:
    """Google's Pub/Sub and Firestore emulators and the Elasticsearch stand-in, bootstrapped, on free ports.

    This process's Google and Elasticsearch clients are pointed at them. Service processes are started on
    demand with ``stack.start_service(name)`` and stopped at the end of the session.
    """
    local = LocalStack(tmp_path_factory.mktemp("stack"), Ports.free(),
                       elasticsearch_url=os.environ.get("ELASTICSEARCH_URL"))
    local.start_backends()
    local.bootstrap()
    yield local
    local.stop()


@pytest.fixture
def firestore_db(stack):
    """A Firestore client on the emulator, with every document deleted before the test."""
    from google.cloud import firestore

    gcloud.wipe_firestore(f"127.0.0.1:{stack.ports.firestore}", stack.project)
    client = firestore.Client(project=stack.project)
    yield client
    client.close()
