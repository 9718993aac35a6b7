"""Each gateway instance's inbox in the device-control database, through a real gateway-ws process: no listener
before its first device connects; then a command reaches the device and its nudge is deleted from the inbox of
the instance holding the session; after SIGTERM the listener is gone and a nudge stays where the API left it, in that
instance's inbox only."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from emulators.control_clients import WsDevice
from emulators.process import wait_until
from infra.adapters.firestore_control import FirestoreControl
from infra.adapters.firestore_inbox import NUDGES

pytestmark = pytest.mark.e2e

LISTENING, STOPPED = "receiving device-control nudges in inbox", "stopped receiving device-control nudges in inbox"


def nudges_of(control_db, device_id: str) -> list[str]:
    """The paths of the nudges for the device waiting in any inbox."""
    return [s.reference.path for s in control_db.collection_group(NUDGES).stream() if s.get("device_id") == device_id]


def next_command(socket: WsDevice) -> dict:
    """The next command pushed to the socket (a config pushed on connect is skipped)."""
    while (frame := socket.next()).topic != "command":
        pass
    return frame.body


def test_an_instance_listens_to_its_own_inbox_from_its_first_connection_until_sigterm(stack, owner, device,
                                                                                     control_db):
    process = stack.start_service("gateway-ws", key="ctl-ws-inbox")
    log = process.log_path
    start = log.stat().st_size

    def logged() -> str:
        return log.read_text(errors="replace")[start:]

    try:
        assert LISTENING not in logged()  # no connection yet: no listener
        socket = WsDevice(stack.url("ctl-ws-inbox").replace("http://", "ws://"), device.key)
        assert socket.report({"on": True})["ok"] is True
        sessions = control_db.collection("presence").document(device.id).get().get("sessions")
        [instance] = {key.split("/")[0] for key in sessions}
        wait_until(lambda: f"{LISTENING} {instance}" in logged(), timeout=10, what="the listener's start")
        command = owner.send_command(device.id, "reboot")
        assert next_command(socket)["id"] == command["id"]
        wait_until(lambda: nudges_of(control_db, device.id) == [], timeout=10, what="the nudge's deletion")
        socket.close()
    finally:
        assert stack.stop_service("ctl-ws-inbox") == 0
    assert f"{STOPPED} {instance}" in logged()
    # The instance's session, as if it had died with the socket open and were still fresh: the nudge is left in its
    # inbox alone, and stays there (until the TTL policy): nobody listens any more.
    FirestoreControl(control_db).open_session(device.id, "o1", f"{instance}/s9", "ws", datetime.now(timezone.utc))
    owner.send_command(device.id, "ping")
    assert nudges_of(control_db, device.id) == [next(iter(
        control_db.collection("inboxes").document(instance).collection(NUDGES).list_documents())).path]
