"""Pub/Sub unavailable during a steady ingest on HTTP, WebSocket and MQTT: no success for unpublished data,
ingestion resumes by itself, and every accepted reading is stored exactly once.

The shared Pub/Sub emulator is frozen (SIGSTOP to its process group) for a bounded time rather than stopped,
or replaced by a private one: a stopped emulator loses every topic, subscription and unpushed message, which
real Pub/Sub never does, and a private one would cost another JVM start (and its memory) on a 2-core machine.
Tests of one session run one at a time, so nothing else needs Pub/Sub while it is frozen; the thaw is in a
``finally``. Frozen, the emulator accepts connections and answers nothing: the gateways' publishes time out,
the harder case, since a publish the gateway gave up on may still land after the thaw (the device's resend is
then a second copy of the same readings, with the same timestamps and therefore the same document ids).
"""

import time

import orjson
import pytest
import requests

from tests.support.fleet import ResendingDevice
from tests.support.signals import frozen

pytestmark = pytest.mark.e2e

PROTOCOLS = ("http", "ws", "mqtt")
FREEZE_LIMIT = 20.0  # seconds: the longest the emulator stays frozen, whatever happens
# What each protocol tells a device whose data Pub/Sub did not confirm (HTTP and WebSocket: 503 with the
# code "unavailable"; MQTT 5: DISCONNECT 0x89 without PUBACK, so the connection ends before the acknowledgement).
OUTAGE_SIGNS = {"http": "503 unavailable", "ws": "503 unavailable", "mqtt": "ConnectionError"}


def test_pubsub_frozen_during_a_steady_ingest(stack, gateways, indexer, seed, ledger, es, reconciled):
    processes = [gateways.process(protocol) for protocol in PROTOCOLS] + [indexer.process]
    pids = [process.pid for process in processes]
    fleet = {}
    for protocol in PROTOCOLS:
        device = seed()
        fleet[protocol] = ResendingDevice(protocol, gateways.connector(protocol, device), ledger,
                                          device.sensors["count"], records=10, interval=0.05).start()
    probe = seed()
    for device in fleet.values():
        device.wait_for_acks(5)

    emulator = stack.backend("pubsub").process
    with frozen(emulator):
        frozen_at = time.monotonic()
        direct = requests.post(gateways.url("http"), timeout=30, headers={"Authorization": f"Bearer {probe.token}"},
                               data=orjson.dumps({"sensor_id": probe.sensors["count"], "value": 1}))
        while not _every_device_saw_the_outage(fleet) and time.monotonic() - frozen_at < FREEZE_LIMIT:
            time.sleep(0.2)
        acknowledged_while_frozen = {p: d.acks_since(frozen_at + 1.0) for p, d in fleet.items()}
    thawed_at = time.monotonic()

    assert direct.status_code == 503, direct.text
    assert direct.json()["error"]["code"] == "unavailable" and int(direct.headers["Retry-After"]) > 0
    assert _every_device_saw_the_outage(fleet), {p: dict(d.failures) for p, d in fleet.items()}
    # A publish under way at the freeze may have been confirmed just before it; none after that.
    assert acknowledged_while_frozen == dict.fromkeys(PROTOCOLS, 0)
    for device in fleet.values():  # every protocol resumes, nothing restarted
        device.wait_for_acks(device.acknowledged + 5, timeout=60)
    for device in fleet.values():
        device.stop()
    assert all(device.acks_since(thawed_at) >= 5 for device in fleet.values())
    assert [process.pid for process in processes] == pids and all(process.alive() for process in processes)

    reconciled(es, ledger)


def _every_device_saw_the_outage(fleet: dict) -> bool:
    """True once every device was refused twice: a resend made during the outage is refused like the first try."""
    return all(device.failures[OUTAGE_SIGNS[protocol]] >= 2 for protocol, device in fleet.items())
