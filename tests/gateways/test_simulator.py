"""The device simulator registers devices through the API and its readings arrive over every protocol."""

import pytest

from emulators import devices
from infra.adapters.passwords import SCRYPT
from infra.usecases.accounts import ensure_admin
from infra.wiring.admin import admin_account
from tests.support.accounts import accounts_repository

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def simulator_api(stack, gateways):
    """The composed API as the simulator's registration endpoint, with the development admin in place."""
    stack.start_service("api", key="sim-api")
    yield stack.url("sim-api")
    stack.stop_service("sim-api")


@pytest.mark.parametrize("protocol", ["http", "ws", "mqtt", "mqtt-ws"])
def test_simulated_devices_send_over_each_protocol(stack, gateways, simulator_api, firestore_db, tap, protocol,
                                                   monkeypatch, capsys):
    monkeypatch.setenv("IOT_DATA_DIR", str(stack.data_dir))  # the simulator reads the admin password there
    ensure_admin(accounts_repository(firestore_db), SCRYPT, admin_account(stack.settings()))
    gateway = {"http": gateways.http, "ws": gateways.ws, "mqtt": f"mqtt://127.0.0.1:{gateways.mqtt_tcp_port}",
               "mqtt-ws": f"ws://127.0.0.1:{gateways.mqtt_ws_port}/mqtt"}[protocol]
    # Telemetry only: the simulator's device control is tested in tests/control/test_simulator_control.py.
    code = devices.main(["--api", simulator_api, "--protocol", protocol, "--gateway", gateway, "--devices", "2",
                         "--rate", "4", "--count", "3", "--batch", "2", "--no-control"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "records accepted   12" in out
    registered = {d.id: d.get("name") for d in firestore_db.collection("devices").stream()}
    assert sorted(registered.values()) == ["sim-0", "sim-1"]
    for device_id in registered:
        messages = tap.messages(device_id, 3)
        assert {m["attributes"]["gateway"] for m in messages} == {"mqtt" if "mqtt" in protocol else protocol}
        assert all(len(m["data"]["records"]) == 2 for m in messages)

    # A second run reuses the devices instead of creating more.
    assert devices.main(["--api", simulator_api, "--protocol", protocol, "--gateway", gateway, "--devices", "2",
                         "--count", "1", "--no-control"]) == 0
    assert len(list(firestore_db.collection("devices").stream())) == 2
