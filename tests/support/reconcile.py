"""Reconcile what devices were told was accepted with what the store holds (the fault tests' one verdict).

Every reading a test sends carries a unique sequence number as its value and its own explicit timestamp, so a
resend after a failure is the same reading again (the same document id) and every stored document names the
reading it came from. ``Ledger`` hands out readings and records which a gateway acknowledged; ``reconcile``
reads the test's sensors back with the official Elasticsearch client and counts:

- lost: acknowledged to a device but not stored;
- duplicated: stored more than once (a sequence number in two documents);
- indexed: documents stored for the test's sensors, which must equal the readings accepted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from elasticsearch import Elasticsearch

from infra.adapters.elasticsearch import ALIAS

# One search page holds everything a fault test sends: no paging, so no reading can slip between pages.
MAX_READINGS = 10_000
SPACING_NS = 1_000_000  # 1 ms between consecutive readings' timestamps


class Ledger:
    """Readings handed to devices (unique value and timestamp each) and the ones a gateway acknowledged.

    Timestamps start ten minutes in the past, well inside any bound the gateways put on reading times.
    """

    def __init__(self, start_ns: int | None = None):
        self._start_ns = start_ns if start_ns is not None else time.time_ns() - 600 * 10**9
        self._next = 0
        self._acknowledged: dict[int, str] = {}  # sequence number → sensor id
        self._sensors: set[str] = set()
        self._lock = threading.Lock()

    def readings(self, sensor_id: str, count: int) -> list[dict]:
        """``count`` new readings of a sensor (a ``long`` sensor: the value is the sequence number)."""
        with self._lock:
            if self._next + count > MAX_READINGS:
                raise ValueError(f"a ledger reconciles at most {MAX_READINGS} readings")
            first, self._next = self._next, self._next + count
            self._sensors.add(sensor_id)
        return [{"sensor_id": sensor_id, "timestamp": self._start_ns + seq * SPACING_NS, "value": seq}
                for seq in range(first, first + count)]

    def acknowledge(self, readings: list[dict]) -> None:
        """Record that a gateway answered success for these readings."""
        with self._lock:
            self._acknowledged.update((r["value"], r["sensor_id"]) for r in readings)

    @property
    def accepted(self) -> dict[int, str]:
        with self._lock:
            return dict(self._acknowledged)

    @property
    def sensors(self) -> list[str]:
        with self._lock:
            return sorted(self._sensors)


@dataclass(frozen=True)
class Reconciliation:
    """The counts of one fault test."""

    accepted: int
    indexed: int
    lost: int
    duplicated: int

    @classmethod
    def count(cls, accepted: dict[int, str], stored: list[tuple[str, int]]) -> "Reconciliation":
        """Compare acknowledged readings (sequence number → sensor) with stored ones ((sensor, sequence) each)."""
        copies = Counter(stored)
        return cls(accepted=len(accepted), indexed=len(stored),
                   lost=sum(1 for seq, sensor in accepted.items() if (sensor, seq) not in copies),
                   duplicated=sum(n - 1 for n in copies.values()))

    def line(self) -> str:
        return (f"accepted {self.accepted}, indexed {self.indexed}, lost {self.lost}, "
                f"duplicated {self.duplicated}")

    def check(self) -> None:
        """Fail unless every accepted reading is stored exactly once and nothing else is."""
        assert self.accepted > 0, "no reading was accepted: the test sent nothing"
        assert (self.lost, self.duplicated, self.indexed) == (0, 0, self.accepted), self.line()


def stored_readings(es: Elasticsearch, sensors: list[str]) -> list[tuple[str, int]]:
    """(sensor id, sequence number) of every document of ``sensors``, one pair per document."""
    es.options(ignore_status=404).indices.refresh(index=ALIAS)
    reply = es.search(index=ALIAS, query={"terms": {"sensor_id": sensors}}, size=MAX_READINGS,
                      track_total_hits=True, source=["sensor_id", "value_long"], ignore_unavailable=True)
    hits = reply["hits"]["hits"]
    assert reply["hits"]["total"]["value"] == len(hits), "more documents than one page: reconcile fewer readings"
    return [(hit["_source"]["sensor_id"], hit["_source"]["value_long"]) for hit in hits]


def reconcile(es: Elasticsearch, ledger: Ledger, *, timeout: float = 90.0, settle: float = 1.0) -> Reconciliation:
    """Wait until every acknowledged reading is stored (or ``timeout``), let redeliveries settle, then count."""
    accepted = ledger.accepted
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not set(accepted).difference(seq for _, seq in stored_readings(es, ledger.sensors)):
            break
        time.sleep(0.5)
    time.sleep(settle)  # a redelivery still in flight would show as a duplicate only after it landed
    return Reconciliation.count(accepted, stored_readings(es, ledger.sensors))
