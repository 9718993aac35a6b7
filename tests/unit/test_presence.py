"""Presence coalesced per instance (infra.usecases.presence): a device's first sighting written at once, later ones
at most once per interval in batched sweeps, sessions written when opened and closed and refreshed by sweeps,
nothing lost when a write fails, and the ingestion core counting every authenticated request."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infra.usecases.presence import PresenceRecorder
from tests.support.clocks import T0, ManualClock
from tests.support.fakes import InMemoryControl

class CountingStore(InMemoryControl):
    """Counts the batched presence writes; refuses them while ``down``."""

    def __init__(self):
        super().__init__()
        self.writes: list[set[str]] = []
        self.down = False

    def record_seen(self, seen):
        if self.down:
            raise RuntimeError("Firestore is unreachable")
        self.writes.append(set(seen))
        super().record_seen(seen)


@pytest.fixture
def clocks() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def presence(store, clocks) -> PresenceRecorder:
    return PresenceRecorder(store, 30, instance="i1", clock=clocks.monotonic, wall=clocks)


def last_seen(store, device_id):
    return store.presence.get(device_id, {}).get("last_seen")


def test_the_first_sighting_is_written_at_once_and_later_ones_coalesce(presence, store, clocks):
    presence.seen("d1", "o1")
    assert store.writes == [{"d1"}] and last_seen(store, "d1") == T0
    for _ in range(10):
        clocks.advance(2)
        presence.seen("d1", "o1")
    presence.seen("d2", "o1")  # another device's first sighting does not write d1's
    assert store.writes == [{"d1"}, {"d2"}] and last_seen(store, "d1") == T0
    clocks.advance(11)  # 31 s since the last sweep: the next sighting sweeps everything pending
    presence.seen("d3", "o1")
    assert store.writes[-1] == {"d1", "d3"} and last_seen(store, "d1") == T0 + timedelta(seconds=20)


def test_a_write_that_fails_is_kept_for_the_next_sweep(presence, store, clocks):
    store.down = True
    presence.seen("d1", "o1")  # no exception reaches the device's request
    store.down = False
    clocks.advance(30)
    presence.sweep()
    assert last_seen(store, "d1") == T0 and store.writes == [{"d1"}]


def test_close_writes_what_is_pending_inline(store, clocks):
    submitted = []
    presence = PresenceRecorder(store, 30, submit=submitted.append, clock=clocks.monotonic, wall=clocks)
    presence.seen("d1", "o1")
    clocks.advance(1)
    presence.seen("d1", "o1")
    assert len(submitted) == 1 and store.writes == []  # handed to the pool, which has not run it
    submitted[0]()
    presence.close()
    assert store.writes == [{"d1"}, {"d1"}] and last_seen(store, "d1") == T0 + timedelta(seconds=1)


def test_sessions_are_written_when_opened_and_closed_and_refreshed_by_sweeps(presence, store, clocks):
    presence.opened("d1", "o1", "s1", "mqtt")
    assert store.statuses(["d1"], T0)["d1"].protocols == ("mqtt",)
    assert set(store.presence["d1"]["sessions"]) == {"i1/s1"}
    clocks.advance(60)
    presence.sweep()  # a silent connected device: its session is refreshed, and it counts as seen
    assert store.presence["d1"]["sessions"]["i1/s1"]["seen"] == T0 + timedelta(seconds=60)
    assert store.statuses(["d1"], T0 + timedelta(seconds=50))["d1"].connected
    presence.closed("d1", "s1")
    writes = len(store.writes)
    clocks.advance(60)
    presence.sweep()
    assert not store.statuses(["d1"], T0)["d1"].connected and len(store.writes) == writes  # nothing left to refresh


def test_the_ingestion_core_counts_every_authenticated_request_as_a_sighting(store, clocks):
    from infra.domain.claims import DEVICE
    from infra.usecases.ingest import DeviceDirectory, DeviceProfile, Ingestor
    from tests.support.fakes import FakeTokens

    tokens = FakeTokens()
    directory = DeviceDirectory(lambda device_id: DeviceProfile(device_id, "o1", 1, {"s1": "double"}), ttl=60)
    presence = PresenceRecorder(store, 30, clock=clocks.monotonic, wall=clocks)
    ingestor = Ingestor(tokens, directory, publisher=None, gateway="http", presence=presence)
    identity = ingestor.authenticate(tokens.issue(DEVICE, "d1", version=1))
    assert last_seen(store, "d1") == T0 and store.presence["d1"]["owner_id"] == "o1"
    assert ingestor.device_of(identity).owner_id == "o1"
    clocks.advance(31)
    ingestor.accept(identity, b'{"sensor_id": "s1", "value": 1}')  # each accepted message of a connection too
    assert last_seen(store, "d1") == T0 + timedelta(seconds=31)


def test_a_tick_refreshes_open_sessions_once_per_interval_without_a_sighting(presence, store, clocks):
    presence.opened("d1", "o1", "s1", "mqtt")
    presence.tick()
    assert store.writes == []  # within the interval: nothing to do
    clocks.advance(31)
    presence.tick()
    presence.tick()
    assert store.writes == [{"d1"}]
