"""A gateway instance's sessions and its nudges (infra.usecases.live_sessions, infra.adapters.firestore_inbox): a nudge
reaches the device's sessions here and no others, one failing session does not keep it from the rest, the inbox
listener starts once on first use and, when it cannot start, is tried again only after a pause."""

from __future__ import annotations

import pytest

from infra.adapters.firestore_inbox import Nudge, parse_nudge
from infra.usecases.live_sessions import RETRY_INTERVAL, LiveSessions


class FakeSubscription:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.starts = 0
        self.stopped = False

    def start(self):
        self.starts += 1
        if self.fail:
            raise ConnectionError("Firestore unreachable")

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


@pytest.mark.parametrize("record, expected", [
    ({"kind": "config", "device_id": "d1", "payload": '{"version": 2, "desired": {}}', "purge_at": 0},
     Nudge("config", "d1", {"version": 2, "desired": {}})),
    ({"kind": "command", "payload": "{}"}, None),
    ({"kind": "command", "device_id": "d1", "payload": "[1]"}, None),
    ({"kind": "command", "device_id": "d1", "payload": "not json"}, None),
    ({"kind": 1, "device_id": "d1", "payload": "{}"}, None),
    (None, None),
])
def test_a_nudge_is_read_from_its_inbox_document_or_ignored(record, expected):
    assert parse_nudge(record) == expected
