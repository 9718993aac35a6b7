"""A gateway instance's sessions and its nudges (infra.usecases.live_sessions, infra.adapters.pubsub_nudges): a nudge
reaches the device's sessions here and no others, one failing session does not keep it from the rest, the
subscription starts once on first use and, when Pub/Sub is unreachable, is tried again only after a pause."""

from __future__ import annotations

import pytest

from infra.adapters.pubsub_nudges import Nudge, parse_nudge
from infra.usecases.live_sessions import RETRY_INTERVAL, LiveSessions


class FakeSubscription:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.starts = 0
        self.stopped = False

    def start(self):
        self.starts += 1
        if self.fail:
            raise ConnectionError("Pub/Sub unreachable")

    def stop(self):
        self.stopped = True


def test_a_nudge_reaches_only_the_sessions_of_its_device_even_when_one_fails():
    live, got = LiveSessions(), []

    def broken(nudge):
        raise RuntimeError("socket gone")

    live.attach("d1", broken)
    live.attach("d1", got.append)
    live.attach("d2", lambda nudge: got.append(("d2", nudge)))
    nudge = Nudge("command", "d1", {"command": {"id": "c1"}})
    assert live.dispatch(nudge) == 2 and got == [nudge]
    live.detach("d1", got.append)
    live.detach("d1", broken)
    assert live.dispatch(nudge) == 0


def test_the_subscription_starts_once_and_a_failed_start_waits_before_it_is_tried_again():
    now = [0.0]
    made: list[FakeSubscription] = []

    def make(callback):
        made.append(FakeSubscription(fail=len(made) == 0))
        return made[-1]

    live = LiveSessions(make, clock=lambda: now[0])
    live.ensure_listening()
    live.ensure_listening()  # within the pause: not tried again
    assert len(made) == 1
    now[0] += RETRY_INTERVAL
    live.ensure_listening()
    live.ensure_listening()
    assert [s.starts for s in made] == [1, 1]
    live.stop()
    assert made[1].stopped


@pytest.mark.parametrize("data, expected", [
    (b'{"kind": "config", "device_id": "d1", "version": 2, "desired": {}}',
     Nudge("config", "d1", {"version": 2, "desired": {}})),
    (b'{"kind": "command"}', None),
    (b"[1]", None),
    (b"not json", None),
    (b'{"kind": 1, "device_id": "d1"}', None),
])
def test_a_nudge_is_read_from_its_message_or_ignored(data, expected):
    assert parse_nudge(data) == expected
