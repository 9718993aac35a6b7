"""Nothing depends on the nudge: the store is the record. The API leaves nudges in Firestore inboxes and uses no
Pub/Sub at all: with its Pub/Sub unreachable, a command and a desired state are stored and answered as usual, and the
device gets both when it next asks. (A nudge write that fails is a ``PublishError``, logged by the API and never an
error: tests/integration/test_firestore_inbox.py, tests/unit/test_owner_control.py.)"""

from __future__ import annotations

import pytest

from emulators.api_client import ApiClient
from emulators.process import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_without_pubsub(stack, services):
    """A second API instance whose Pub/Sub is unreachable (nothing listens on that port)."""
    stack.start_service("api", key="ctl-api-no-pubsub", extra_env={"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{free_port()}"})
    yield stack.url("ctl-api-no-pubsub", "")
    stack.stop_service("ctl-api-no-pubsub")


def test_device_control_needs_no_pubsub_and_the_device_gets_what_is_stored(owner, device, api_without_pubsub):
    cut_off = ApiClient(api_without_pubsub, owner.token)
    command = cut_off.send_command(device.id, "reboot")
    assert command["status"] == "queued"
    assert cut_off.set_desired(device.id, {"rate": 5})["desired_version"] == 1
    assert [c["id"] for c in device.request("GET", "/commands").json()["items"]] == [command["id"]]
    assert device.request("GET", "/twin/desired").json() == {"version": 1, "desired": {"rate": 5}}
