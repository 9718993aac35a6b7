"""A device's export walk against the store: every reading once, oldest first, across monthly indices, in the
range asked, a page at a time (never all pages before the first row), with the point in time closed afterwards."""

from __future__ import annotations

import uuid

from infra.adapters.elasticsearch import build_document
from infra.adapters.elasticsearch.export import count_device_readings, device_readings


def _seed(es, device_id: str, n: int) -> list[str]:
    """``n`` readings of two sensors with equal timestamps in pairs, over two months; their timestamps in order."""
    ops, stamps = [], []
    for i in range(n):
        month, second = (1, i) if i < n // 2 else (2, i)
        stamp = f"2024-{month:02d}-01T00:{(second // 2) // 60:02d}:{(second // 2) % 60:02d}.000000000Z"
        doc = build_document({"sensor_id": f"{device_id}-s{i % 2}", "type": "long", "timestamp": stamp, "value": i},
                             device_id=device_id, owner_id="o", received_at=stamp, gateway="http")
        ops += [{"index": {"_index": doc.index, "_id": doc.id}}, doc.source]
        stamps.append(stamp)
    assert es.bulk(operations=ops, refresh=True)["errors"] is False
    return stamps


class CountingClient:
    """The client, counting the searches it sent."""

    def __init__(self, es):
        self._es = es
        self.searches = 0

    def search(self, **kwargs):
        self.searches += 1
        return self._es.search(**kwargs)

    def __getattr__(self, name):
        return getattr(self._es, name)


def test_the_walk_yields_every_reading_once_oldest_first_a_page_at_a_time(store_es):
    device = f"d{uuid.uuid4().hex[:8]}"
    stamps = _seed(store_es, device, 250)
    counting = CountingClient(store_es)
    rows = device_readings(counting, device, None, None, page_size=100)
    first = next(rows)
    assert counting.searches == 1  # the first row comes before the second page is asked for
    rest = list(rows)
    assert counting.searches == 3
    got = [first, *rest]
    assert len(got) == 250 and len({(r["sensor_id"], r["timestamp"]) for r in got}) == 250
    assert [r["timestamp"] for r in got] == sorted(stamps)
    assert {r["type"] for r in got} == {"long"} and sorted(r["value"] for r in got) == list(range(250))
    assert count_device_readings(store_es, device, None, None) == 250


def test_the_walk_keeps_to_the_range(store_es):
    device = f"d{uuid.uuid4().hex[:8]}"
    _seed(store_es, device, 40)
    start, end = 1_706_745_610 * 10**9, 1_706_745_615 * 10**9  # 2024-02-01T00:00:10Z to 00:00:15Z
    got = list(device_readings(store_es, device, start, end, page_size=3))
    assert [r["timestamp"][:19] for r in got] == [f"2024-02-01T00:00:{s}" for s in (10, 10, 11, 11, 12, 12, 13, 13,
                                                                                      14, 14)]
    assert count_device_readings(store_es, device, start, end) == 10
    assert list(device_readings(store_es, "no-such-device", None, None)) == []
