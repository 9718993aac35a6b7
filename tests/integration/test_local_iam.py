"""Local IAM on the emulators: a service's clients refuse what its row of run/permissions.py does not allow, with
Google's ``PermissionDenied``, for every kind of Firestore and Pub/Sub call the code makes; and allow the rest.

The calls are the code's own (grep ``self.db.``, ``.batch()``, ``.transaction()``, ``publish`` in infra/adapters):
document get/create/set/update/delete, batched writes, transactions, ``get_all``, queries, listeners (a gateway's
inbox), and telemetry publishes.
"""

from __future__ import annotations

import os
import queue
from datetime import datetime, timezone

import pytest
from google.api_core.exceptions import PermissionDenied
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from emulators.stack import LocalStack
from infra.adapters.firestore import FirestoreRepository
from infra.adapters.firestore_control import FirestoreControl
from infra.adapters.firestore_inbox import InboxListener, Nudge
from infra.adapters.firestore_rejections import FirestoreRejections
from infra.config import Settings
from infra.domain.claims import DEVICE
from infra.domain.control import Sighting
from infra.domain.model import new_id
from infra.domain.ports import PublishError
from infra.domain.rejections import Rejection
from infra.wiring.clients import Clients, RoleClients
from run.services import CONTROL_DATABASE, CREDENTIALS_DATABASE
from tests.support.names import unique

COLLECTION = "local-iam"


def service_clients(stack: LocalStack, name: str, **env: str) -> Clients:
    """The clients a process of the local stack running ``name`` gets."""
    clients = Clients(Settings.from_env({**os.environ, **stack.service_env(name), **env}))
    return clients.for_service(name)


@pytest.fixture
def clients_of(stack, firestore_db):
    """Build a service's clients; close them after the test. Firestore is wiped and holds one document."""
    firestore_db.collection(COLLECTION).document("seed").set({"n": 1})
    made = []

    def build(name: str, **env: str) -> Clients:
        made.append(service_clients(stack, name, **env))
        return made[-1]

    yield build
    for clients in made:
        clients.close()


def _in_transaction(db, write):
    ref = db.collection(COLLECTION).document("seed")

    @firestore.transactional
    def run(transaction):
        ref.get(transaction=transaction)
        if write:
            transaction.update(ref, {"n": 2})
        return True

    return run(db.transaction())


def _batched(db):
    batch = db.batch()
    batch.set(db.collection(COLLECTION).document("a"), {"n": 1})
    batch.delete(db.collection(COLLECTION).document("seed"))
    return batch.commit()


WRITES = {
    "create": lambda db: db.collection(COLLECTION).document("new").create({"n": 1}),
    "set": lambda db: db.collection(COLLECTION).document("seed").set({"n": 2}),
    "update": lambda db: db.collection(COLLECTION).document("seed").update({"n": 2}),
    "delete": lambda db: db.collection(COLLECTION).document("seed").delete(),
    "batch": _batched,
    "transaction": lambda db: _in_transaction(db, write=True),
}
READS = {
    "get": lambda db: db.collection(COLLECTION).document("seed").get().exists,
    "get_all": lambda db: [s.exists for s in db.get_all([db.collection(COLLECTION).document("seed")])] == [True],
    "query": lambda db: len(list(db.collection(COLLECTION).where(filter=FieldFilter("n", "==", 1)).stream())) == 1,
    "read-only transaction": lambda db: _in_transaction(db, write=False),
}


@pytest.mark.parametrize("call", WRITES, ids=list(WRITES))
def test_a_reader_may_not_write_and_nothing_is_written(clients_of, firestore_db, call):
    with pytest.raises(PermissionDenied, match="insufficient permissions"):
        WRITES[call](clients_of("gateway-http").firestore)
    assert sorted(s.id for s in firestore_db.collection(COLLECTION).stream()) == ["seed"]
    assert firestore_db.collection(COLLECTION).document("seed").get().get("n") == 1


@pytest.mark.parametrize("call", READS, ids=list(READS))
def test_a_reader_reads_and_a_service_without_firestore_may_not(clients_of, call):
    assert READS[call](clients_of("api-data").firestore) is True
    with pytest.raises(Exception) as raised:
        READS[call](clients_of("web").firestore)
    # A refused transaction cannot begin, and Google's client then fails to roll it back: the refusal is the context.
    assert isinstance(raised.value, PermissionDenied) or isinstance(raised.value.__context__, PermissionDenied)


@pytest.mark.parametrize("call", WRITES, ids=list(WRITES))
def test_a_writer_writes(clients_of, call):
    WRITES[call](clients_of("pipeline").firestore)


def test_the_adapters_calls_are_refused_to_a_reader(clients_of, firestore_db):
    """What a gateway would do if it wrote: the repository's transactions, a rejection's batch."""
    device_id = new_id()
    firestore_db.collection("devices").document(device_id).set({"owner_id": "u1", "key_version": 1})
    clients = clients_of("gateway-mqtt")
    db = clients.firestore
    repository = FirestoreRepository(db, control=clients.control_firestore)
    assert repository.get_device(device_id).key_version == 1  # reading is its job
    rejection = Rejection(reason="bad", message_id="m1", published_at=datetime.now(timezone.utc), source="test")
    for call in (lambda: repository.bump_key(DEVICE, device_id), lambda: repository.delete_holder(DEVICE, device_id),
                 lambda: FirestoreRejections(db).record([rejection])):
        with pytest.raises(PermissionDenied):
            call()
    assert firestore_db.collection("devices").document(device_id).get().get("key_version") == 1


def test_only_an_entitled_service_opens_the_credentials_database(clients_of):
    entitled = clients_of("api-users", IOT_CREDENTIALS_DATABASE=CREDENTIALS_DATABASE).credentials_firestore
    entitled.collection("bootstrap").document("probe").set({"at": 1})
    # Configured by mistake elsewhere, the database still refuses: IAM, not the setting, keeps the hashes away.
    stranger = clients_of("gateway-http", IOT_CREDENTIALS_DATABASE=CREDENTIALS_DATABASE).credentials_firestore
    with pytest.raises(PermissionDenied):
        stranger.collection("bootstrap").document("probe").get()
    with pytest.raises(PermissionDenied):
        FirestoreRepository(stranger, stranger).get_password_hash("u1")


def test_a_gateway_writes_device_state_in_the_control_database_only(clients_of, firestore_db):
    """Twins, commands and presence: the gateways' one Firestore write, which reaches nothing in (default)."""
    gateway = clients_of("gateway-http")
    store = FirestoreControl(gateway.control_firestore)
    store.record_seen({"d1": Sighting("o1", datetime.now(timezone.utc))})
    assert store.update_twin("d1", "o1", lambda twin: twin.with_reported({"on": True}, datetime.now(timezone.utc)))
    assert store.get_twin("d1").reported == {"on": True}
    with pytest.raises(PermissionDenied):
        FirestoreControl(gateway.firestore).record_seen({"d1": Sighting("o1", datetime.now(timezone.utc))})
    assert [collection.id for collection in firestore_db.collections()] == [COLLECTION]


def test_only_the_services_granted_it_open_the_control_database(clients_of):
    for name in ("api-users", "api-devices", "gateway-ws"):
        clients_of(name).control_firestore.collection("twins").document("probe").set({"owner_id": "o1"})
    # Configured by mistake elsewhere, the database still refuses.
    stranger = clients_of("api-consumers", IOT_CONTROL_DATABASE=CONTROL_DATABASE).control_firestore
    with pytest.raises(PermissionDenied):
        stranger.collection("twins").document("probe").get()


def test_only_a_publisher_publishes(clients_of):
    assert clients_of("gateway-ws").publisher.publish(b"{}", device_id=unique("iam"))
    refused = clients_of("api-users").publisher
    with pytest.raises(PermissionDenied, match="not authorized"):
        refused.publish_future(b"{}", device_id="d1").result(timeout=10)
    with pytest.raises(PublishError) as raised:
        refused.publish(b"{}", device_id="d1")
    assert isinstance(raised.value.__cause__, PermissionDenied)


def test_every_member_of_the_composition_gets_its_own_role(clients_of):
    process = Clients(Settings.from_env({**os.environ, "IOT_SERVICE": "api"}))
    users, web = process.for_service("api-users"), process.for_service("web")
    try:
        assert users.firestore.collection(COLLECTION).document("seed").get().exists
        with pytest.raises(PermissionDenied):
            web.firestore.collection(COLLECTION).document("seed").get()
        assert users.elasticsearch is web.elasticsearch is process.elasticsearch
    finally:
        process.close()  # closes the members' clients too


def test_nothing_is_restricted_outside_a_service_process_or_off_the_emulators():
    unnamed = Clients(Settings.from_env({"FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"}))
    assert unnamed.for_service("web") is unnamed
    production = Clients(Settings.from_env({"IOT_SERVICE": "web"}))
    assert production.for_service("web") is production
    assert isinstance(Clients(Settings.from_env({"IOT_SERVICE": "web", "PUBSUB_EMULATOR_HOST": "127.0.0.1:1"}))
                      .for_service("web"), RoleClients)


def test_the_local_stack_names_every_process_it_starts(tmp_path):
    stack = LocalStack(tmp_path)
    assert [stack.service_env(name)["IOT_SERVICE"] for name in ("api", "gateway-mqtt")] == ["api", "gateway-mqtt"]


def test_api_devices_leaves_nudges_and_a_gateway_takes_them_from_its_inbox(clients_of):
    """Nudges are documents of the device-control database: api-devices writes them, a gateway listens to and
    deletes its own; a service without that database is refused; nobody needs a Pub/Sub subscription."""
    instance = unique("inst")
    clients_of("api-devices").control_bus.nudge([instance], "config", "d1", {"version": 1})
    received = queue.Queue()
    gateway = clients_of("gateway-mqtt").control_firestore
    listener = InboxListener(gateway, instance, received.put)
    listener.start()
    try:
        assert received.get(timeout=10) == Nudge("config", "d1", {"version": 1})
    finally:
        listener.stop()
    stranger = clients_of("api-consumers", IOT_CONTROL_DATABASE=CONTROL_DATABASE).control_bus
    with pytest.raises(PublishError) as raised:
        stranger.nudge([instance], "config", "d1", {"version": 2})
    assert isinstance(raised.value.__cause__, PermissionDenied)


def test_a_named_main_database_gets_the_rows_main_access(clients_of, stack):
    """A further environment's main database (IOT_FIRESTORE_DATABASE, e.g. staging-iot) is the one every client of
    the main data opens, with the row's access to (default): a gateway reads it and cannot write it."""
    database = unique("env") + "-iot"
    writer = clients_of("api-devices", IOT_FIRESTORE_DATABASE=database).firestore
    writer.collection(COLLECTION).document("d1").set({"n": 2})
    gateway = clients_of("gateway-http", IOT_FIRESTORE_DATABASE=database).firestore
    assert gateway.collection(COLLECTION).document("d1").get().to_dict() == {"n": 2}
    with pytest.raises(PermissionDenied):
        gateway.collection(COLLECTION).document("d1").set({"n": 3})
    # and (default) is another database: the document is not there
    default = clients_of("api-devices").firestore
    assert not default.collection(COLLECTION).document("d1").get().exists
