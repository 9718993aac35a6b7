"""Each gateway instance's own subscription on device-control: none before its first device connects, one (with a
day's expiry and short retention) once one has, none after SIGTERM."""

from __future__ import annotations

import pytest
from google.cloud import pubsub_v1

from emulators.control_clients import WsDevice

pytestmark = pytest.mark.e2e


def nudge_subscriptions(stack) -> dict[str, pubsub_v1.types.Subscription]:
    topology = stack.settings().topology
    subscriber = pubsub_v1.SubscriberClient()
    try:
        found = subscriber.list_subscriptions(project=f"projects/{stack.project}")
        return {s.name: s for s in found if s.topic.endswith(f"/topics/{topology.control_topic}")}
    finally:
        subscriber.close()


def test_an_instance_subscribes_on_its_first_connection_and_unsubscribes_at_sigterm(stack, owner, device):
    before = set(nudge_subscriptions(stack))
    stack.start_service("gateway-ws", key="ctl-ws-sub")
    try:
        assert set(nudge_subscriptions(stack)) == before  # no connection yet: no subscription
        socket = WsDevice(stack.url("ctl-ws-sub").replace("http://", "ws://"), device.key)
        assert socket.report({"on": True})["ok"] is True  # served: the subscription was made before
        socket.close()
        [created] = [s for name, s in nudge_subscriptions(stack).items() if name not in before]
        assert created.expiration_policy.ttl.total_seconds() == 86400
        assert created.message_retention_duration.total_seconds() == 600
    finally:
        assert stack.stop_service("ctl-ws-sub") == 0
    assert set(nudge_subscriptions(stack)) == before
