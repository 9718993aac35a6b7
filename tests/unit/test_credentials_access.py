"""Only a process given the credentials' database reaches it: elsewhere the repository refuses the credential
methods instead of reaching for them (the emulator has no IAM; this is the local stand-in for it)."""

import pytest

from infra.adapters.firestore import CredentialsUnavailableError, FirestoreRepository
from infra.config import Settings
from infra.wiring import Wiring
from infra.wiring.clients import Clients
from run.services import CREDENTIALS_DATABASE, reads_credentials


@pytest.mark.parametrize("call", [
    lambda repo: repo.get_password_hash("u1"),
    lambda repo: repo.reserve_signin_attempt("k", 0.0, 60, 5),
    lambda repo: repo.signin_address_known("k", "a"),
    lambda repo: repo.bootstrapped("admin-root"),
])
def test_a_repository_without_the_credentials_database_refuses_credential_methods(call):
    with pytest.raises(CredentialsUnavailableError, match="IOT_CREDENTIALS_DATABASE"):
        call(FirestoreRepository(client=object()))


def test_the_wiring_hands_out_the_credentials_database_only_when_configured():
    default, credentials = object(), object()
    for configured, expected in ((None, None), (CREDENTIALS_DATABASE, credentials)):
        clients = Clients(Settings.from_env({"IOT_CREDENTIALS_DATABASE": configured or ""}))
        clients.__dict__.update(firestore=default, credentials_firestore=credentials)  # no connection in a unit test
        repository = Wiring(clients.settings, clients).repository
        assert repository.db is default and repository._credentials is expected


def test_only_api_users_and_the_local_composition_holding_it_are_entitled():
    assert [name for name in ("api-users", "api-devices", "api-consumers", "api-data", "web", "gateway-http",
                              "gateway-ws", "gateway-mqtt", "pipeline", "api") if reads_credentials(name)] == [
        "api-users", "api"]
