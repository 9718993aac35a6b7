"""At most N password hashes at once per instance; beyond, 503 ``busy`` with Retry-After (issue 13)."""

import threading

import pytest

from infra.adapters.passwords import BoundedPasswords
from infra.domain.errors import ServiceUnavailableError


class SlowHasher:
    """Blocks in ``verify`` until released, counting how many run at once."""

    def __init__(self):
        self.release = threading.Event()
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def verify(self, password_hash, password):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(10)
        with self._lock:
            self.running -= 1
        return True

    def hash(self, password):
        return self.verify("", password) and "hashed"

    def spend_verification_time(self, password):
        self.verify("", password)


def test_beyond_the_bound_a_caller_gets_busy_and_the_bound_frees_up_after():
    inner = SlowHasher()
    bounded = BoundedPasswords(inner, 2, wait=0.2)
    threads = [threading.Thread(target=bounded.verify, args=("h", "p")) for _ in range(2)]
    for thread in threads:
        thread.start()
    while inner.running < 2:
        threading.Event().wait(0.01)
    with pytest.raises(ServiceUnavailableError) as caught:
        bounded.hash("p")
    assert caught.value.code == "busy" and caught.value.headers["Retry-After"] == "1"
    inner.release.set()
    for thread in threads:
        thread.join(5)
    assert inner.most == 2
    assert bounded.hash("p") == "hashed"  # the slots were given back
