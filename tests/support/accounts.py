"""The development admin, signed in through a running API (re-created after the per-test Firestore wipe)."""

from __future__ import annotations

from google.cloud import firestore

from infra.adapters.passwords import SCRYPT
from infra.usecases.accounts import ensure_admin
from infra.wiring.admin import admin_account
from emulators.api_client import ApiClient
from infra.config import Settings
from infra.adapters.firestore import FirestoreRepository
from run.services import CONTROL_DATABASE, CREDENTIALS_DATABASE


def accounts_repository(db: firestore.Client) -> FirestoreRepository:
    """The repository on ``db`` (the emulator's default database), the credentials' and the device-control
    databases, as api-users has it."""
    return FirestoreRepository(db, firestore.Client(project=db.project, database=CREDENTIALS_DATABASE),
                               control_database(db))


def control_database(db: firestore.Client) -> firestore.Client:
    """A client of the device-control database on the emulator of ``db``."""
    return firestore.Client(project=db.project, database=CONTROL_DATABASE)


def signed_in_admin(settings: Settings, db: firestore.Client, base_url: str) -> ApiClient:
    """An API client signed in as the admin of ``settings``, with ``.username`` and ``.password`` set."""
    account = admin_account(settings)
    ensure_admin(accounts_repository(db), SCRYPT, account)
    client = ApiClient(base_url)
    client.signin(account.username, account.password)
    client.username, client.password = account.username, account.password
    return client


def user_factory(admin: ApiClient, base_url: str, password: str):
    """A factory of fresh users the admin creates, each signed in through ``base_url`` (``.user`` is its account)."""
    from tests.support.names import unique

    def make() -> ApiClient:
        username = unique("u").replace("-", "")
        admin.create_user(username, password)
        client = ApiClient(base_url)
        client.signin(username, password)
        client.user = client.call("GET", "/api/users/self")
        return client

    return make
