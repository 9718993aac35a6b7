"""Only a process given the device-control database reaches it: the wiring hands it to the repository (whose device
and user deletes need it) and to the control store only when configured, and the local stack configures it for the
processes whose IAM row grants it."""

import pytest

from infra.adapters.firestore import ControlUnavailableError, FirestoreRepository
from infra.config import ConfigError, Settings
from infra.domain.claims import DEVICE
from infra.wiring import Wiring
from infra.wiring.clients import Clients
from run.services import CONTROL_DATABASE, reaches_control


@pytest.mark.parametrize("call", [lambda repo: repo.delete_holder(DEVICE, "d1"), lambda repo: repo.delete_user("u1")])
def test_a_repository_without_the_control_database_refuses_to_delete_devices_and_users(call):
    class Present:  # a Firestore stand-in whose every document exists: the delete gets as far as the control step
        def __getattr__(self, name):
            return lambda *args, **kwargs: self

        exists = True

        def to_dict(self):
            return {"owner_id": "u1", "username": "u1", "name": "u1", "role": "user"}

    with pytest.raises(ControlUnavailableError, match="IOT_CONTROL_DATABASE"):
        call(FirestoreRepository(client=Present()))


def test_the_wiring_hands_out_the_control_database_only_when_configured():
    default, control = object(), object()
    for configured, expected in ((None, None), (CONTROL_DATABASE, control)):
        clients = Clients(Settings.from_env({"IOT_CONTROL_DATABASE": configured or ""}))
        clients.__dict__.update(firestore=default, control_firestore=control)  # no connection in a unit test
        repository = Wiring(clients.settings, clients).repository
        assert repository.db is default and repository._control is expected


def test_an_unconfigured_process_opens_no_control_database():
    with pytest.raises(ConfigError, match="IOT_CONTROL_DATABASE is not set"):
        Clients(Settings.from_env({})).control_firestore


def test_the_services_granted_the_control_database_and_the_local_composition_holding_them_are_entitled():
    assert [name for name in ("api-users", "api-devices", "api-consumers", "api-data", "web", "gateway-http",
                              "gateway-ws", "gateway-mqtt", "pipeline", "api") if reaches_control(name)] == [
        "api-users", "api-devices", "gateway-http", "gateway-ws", "gateway-mqtt", "api"]
