"""Deferred builds the object it stands for once, on first use, whichever thread comes first."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.wiring.deferred import Deferred


class Client:
    def __init__(self):
        self.calls = 0

    def publish(self, data: bytes) -> int:
        self.calls += 1
        return len(data)


def test_nothing_is_built_until_an_attribute_is_read():
    built = []
    deferred = Deferred(lambda: built.append(Client()) or built[-1])
    assert built == [] and not deferred.built
    assert deferred.publish(b"abc") == 3
    assert deferred.publish(b"de") == 2
    assert len(built) == 1 and deferred.built and deferred.target is built[0] and built[0].calls == 2


def test_concurrent_first_uses_build_once():
    started, release = threading.Barrier(8), threading.Event()
    builds = []

    def build():
        builds.append(1)
        release.wait(5)
        return Client()

    deferred = Deferred(build)

    def use(_):
        started.wait(5)
        return deferred.publish(b"x")

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(use, n) for n in range(8)]
        release.set()
        assert [future.result(5) for future in futures] == [1] * 8
    assert builds == [1] and deferred.target.calls == 8


def test_a_failed_build_is_tried_again_on_the_next_use():
    attempts = []

    def build():
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("no credentials yet")
        return Client()

    deferred = Deferred(build)
    with pytest.raises(ConnectionError):
        deferred.publish(b"x")
    assert not deferred.built
    assert deferred.publish(b"xy") == 2 and len(attempts) == 2
