"""Processes that die or are told to stop under load: nothing accepted is lost, nothing is stored twice.

- The pipeline is SIGKILLed while a stream of large batches is being indexed, and started again on its port:
  Pub/Sub redelivers every push that was not answered, partly indexed batches included.
- The three gateways get SIGTERM (what Cloud Run sends before stopping an instance) while devices send: requests
  in flight finish or fail visibly, and the devices resend to the gateways started again on the same ports.
"""

import time

import pytest

from tests.support.fleet import ResendingDevice
from tests.support.reconcile import stored_readings
from tests.support.signals import kill, terminate

pytestmark = pytest.mark.e2e

PROTOCOLS = ("http", "ws", "mqtt")


def test_pipeline_killed_while_indexing_large_batches(stack, gateways, indexer, seed, ledger, es, reconciled):
    device = seed()
    sender = ResendingDevice("http", gateways.connector("http", device), ledger, device.sensors["count"],
                             records=500, messages=16, interval=0).start()
    stored_at_kill = _wait_for_first_documents(es, ledger)
    killed = indexer.process
    kill(killed)
    indexer.start()
    sender.join()

    assert killed.popen.returncode < 0 and indexer.process.pid != killed.pid
    assert 0 < stored_at_kill < len(ledger.accepted), "the pipeline was not killed in the middle of the stream"
    reconciled(es, ledger, timeout=120)


def test_gateways_terminated_under_load(gateways, indexer, seed, ledger, es, reconciled):
    fleet = {}
    for protocol in PROTOCOLS:
        device = seed()
        fleet[protocol] = ResendingDevice(protocol, gateways.connector(protocol, device), ledger,
                                          device.sensors["count"], records=10, interval=0.01).start()
    for device in fleet.values():
        device.wait_for_acks(5)

    # All at once, as a deploy replaces every gateway.
    codes = dict(zip(PROTOCOLS, terminate(*(gateways.process(protocol) for protocol in PROTOCOLS)), strict=True))
    gateways.start(*PROTOCOLS)
    restarted_at = time.monotonic()
    for device in fleet.values():
        device.wait_for_acks(device.acknowledged + 5, timeout=60)
    for device in fleet.values():
        device.stop()

    assert codes == dict.fromkeys(PROTOCOLS, 0), "a gateway did not shut down cleanly on SIGTERM"
    # Every device met the outage (a failed send, a dropped or refused connection) and resent afterwards.
    assert {p: sum(d.failures.values()) > 0 for p, d in fleet.items()} == dict.fromkeys(PROTOCOLS, True)
    assert all(device.acks_since(restarted_at) >= 5 for device in fleet.values())
    reconciled(es, ledger)


def _wait_for_first_documents(es, ledger, timeout: float = 60.0) -> int:
    """Poll the store until the first of the ledger's readings were indexed; how many there were."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger.sensors:
            stored = len(stored_readings(es, ledger.sensors))
            if stored:
                return stored
        time.sleep(0.02)
    raise AssertionError("nothing was indexed")
