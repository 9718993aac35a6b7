"""Domain rules without I/O: field parsing, mapping normalisation, the tree, the key-version cache."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from infra.domain.errors import BadRequestError
from infra.domain.model import (HOLDER_PATCH, SENSOR_CREATE, Device, Sensor, parse_mapping, sensor_tree, valid_id)
from infra.usecases.revocation import RevocationCache
from infra.usecases.caches import TtlCache
from infra.domain.claims import DEVICE, Claims

NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                              max_size=3), max_leaves=8)


@given(JSON)
def test_any_mapping_is_normalised_or_refused_with_a_400(value):
    for candidate in (value, json.dumps(value)):
        try:
            mapping = parse_mapping("mapping", candidate)
        except BadRequestError as exc:
            assert exc.status == 400 and exc.code in ("invalid_mapping", "unknown_sensor_type")
        else:
            assert mapping["type"] in ("double", "long", "boolean", "keyword")
            assert set(mapping) <= {"type", "unit"}


@pytest.mark.parametrize("text", ["[" * 10_000 + "]" * 10_000, '{"a": ' * 5_000 + "1" + "}" * 5_000],
                         ids=["arrays", "objects"])
def test_a_mapping_string_nested_beyond_the_recursion_limit_is_a_400(text):
    with pytest.raises(BadRequestError) as caught:
        parse_mapping("mapping", text)
    assert (caught.value.status, caught.value.code) == (400, "invalid_mapping")


def test_fields_name_the_offending_field_and_apply_defaults():
    with pytest.raises(BadRequestError) as caught:
        HOLDER_PATCH.parse({"name": "ok", "owner_id": "x"})
    assert (caught.value.code, caught.value.details) == ("read_only_field", {"field": "owner_id"})
    parsed = SENSOR_CREATE.parse({"name": "  padded  ", "mapping": '{"type": "Integer"}'})
    assert parsed == {"name": "padded", "mapping": {"type": "long"}, "description": "", "path": []}


@pytest.mark.parametrize("value, ok", [("3f9a1c0b7d2e", True), ("abc", True), ("", False), ("a/b", False),
                                       ("__x__", False), ("ABC", False), (12, False), ("x" * 65, False)])
def test_ids_that_can_name_a_document(value, ok):
    assert valid_id(value) is ok


def _sensor(sensor_id: str, name: str, path: list[str]) -> Sensor:
    return Sensor(sensor_id, "d", "o", name, "", "double", {"type": "double"}, path, NOW, NOW)


def test_tree_is_sorted_and_stable():
    sensors = [_sensor("2", "b", ["X"]), _sensor("1", "a", ["X"]), _sensor("3", "c", ["A", "B"]),
               _sensor("4", "root", [])]
    tree = sensor_tree(sensors)
    assert tree == sensor_tree(reversed(sensors))
    assert [g["name"] for g in tree["groups"]] == ["A", "X"]
    assert [s["id"] for s in tree["groups"][1]["sensors"]] == ["1", "2"]
    assert tree["groups"][0]["groups"][0]["name"] == "B" and [s["id"] for s in tree["sensors"]] == ["4"]


class FakeDevices:
    """A repository with devices only, counting lookups (the cache's collaborator)."""

    def __init__(self):
        self.versions: dict[str, int] = {}
        self.lookups = 0
        self.gate: threading.Event | None = None

    def get_device(self, device_id: str):
        self.lookups += 1
        if self.gate is not None:
            self.gate.wait(5)
        version = self.versions.get(device_id)
        return None if version is None else Device(device_id, "owner", "d", "", version, NOW, NOW)

    def get_consumer(self, consumer_id: str):
        return None


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _claims(device_id: str, version: int) -> Claims:
    return Claims(subject=device_id, audience=DEVICE, issued_at=0, expires_at=None, token_id="j", version=version)


def test_a_rotated_key_is_refused_once_the_cached_version_is_older_than_the_ttl():
    repo, clock = FakeDevices(), Clock()
    cache = RevocationCache(repo, ttl=60, clock=clock)
    repo.versions["d1"] = 1
    assert cache.lookup(DEVICE, "d1", 1) is not None
    repo.versions["d1"] = 2  # rotated elsewhere
    clock.now = 59
    assert cache.lookup(DEVICE, "d1", 1) is not None  # within the TTL, the cached answer stands
    assert cache.current_device(_claims("d1", 2)) is not None  # a newer token forces a lookup at once
    clock.now = 200
    assert cache.lookup(DEVICE, "d1", 1) is None
    repo.versions.pop("d1")  # deleted
    clock.now = 300
    assert cache.lookup(DEVICE, "d1", 2) is None
    assert cache.current_device(Claims("d1", "consumer", 0, None, "j", 2)) is None  # wrong audience


def test_hits_within_the_ttl_do_not_look_up_and_concurrent_misses_look_up_once():
    repo, clock = FakeDevices(), Clock()
    repo.versions["d1"] = 1
    cache = TtlCache(repo.get_device, ttl=60, clock=clock)
    repo.gate = threading.Event()
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("d1"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    repo.gate.set()
    for thread in threads:
        thread.join(5)
    assert len(results) == 8 and repo.lookups == 1
    cache.get("d1")
    assert repo.lookups == 1
    cache.invalidate("d1")
    cache.get("d1")
    assert repo.lookups == 2


def test_lookup_errors_reach_the_caller_and_are_not_cached():
    calls = []

    def flaky(key):
        calls.append(key)
        if len(calls) == 1:
            raise ConnectionError("firestore down")
        return "value"

    cache = TtlCache(flaky, ttl=60)
    with pytest.raises(ConnectionError):
        cache.get("k")
    assert cache.get("k") == "value" and len(calls) == 2


def test_the_cache_is_bounded():
    cache = TtlCache(lambda key: key, ttl=60, max_entries=3)
    for key in "abcde":
        cache.get(key)
    assert list(cache._entries) == ["c", "d", "e"]
