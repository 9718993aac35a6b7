"""Session fixtures: the local stack on free ports, started once; Firestore wiped between tests.

Every test gets one of the markers ``unit``, ``integration`` or ``e2e`` (``pytest -m unit`` runs in seconds):
``e2e`` where a module or its folder says so (it runs service processes), ``integration`` where it says so or
where a test uses a real backend, socket or outside tool (the fixtures in ``BACKEND_FIXTURES``), ``unit`` for the
rest.
"""

from __future__ import annotations

import os

import pytest

from emulators import gcloud
from emulators.stack import LocalStack, Ports
from run.services import CONTROL_DATABASE, CREDENTIALS_DATABASE


# Fixtures that start or reach a real process or socket: the emulators, an Elasticsearch stand-in or cluster, an
# in-process MQTT gateway on real sockets.
BACKEND_FIXTURES = frozenset(("stack", "es_url", "store_url", "gateway", "paho_peer", "raw_peer"))
LAYERS = ("unit", "integration", "e2e")


def pytest_configure(config):
    """The suite sets every IOT_* setting it relies on: an operator's shell (IOT_ADMIN_PASSWORD, IOT_ENV=production...)
    must not change what a test sees, in this process or in the service processes it starts."""
    for name in [name for name in os.environ if name.startswith("IOT_")]:
        del os.environ[name]


def pytest_collection_modifyitems(items):
    for item in items:
        if any(item.get_closest_marker(layer) for layer in LAYERS):
            continue
        folder = item.path.parent.name  # tests/integration and tests/e2e say what they hold
        if folder in ("integration", "e2e"):
            layer = folder
        else:
            layer = "integration" if BACKEND_FIXTURES & set(item.fixturenames) else "unit"
        item.add_marker(getattr(pytest.mark, layer))


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

    gcloud.wipe_firestore(f"127.0.0.1:{stack.ports.firestore}", stack.project,
                          ("(default)", CREDENTIALS_DATABASE, CONTROL_DATABASE))
    client = firestore.Client(project=stack.project)
    yield client
    client.close()


@pytest.fixture
def control_db(stack):
    """A client of the device-control database on the emulator (wiped by ``firestore_db``, when a test asks)."""
    from google.cloud import firestore

    client = firestore.Client(project=stack.project, database=CONTROL_DATABASE)
    yield client
    client.close()
