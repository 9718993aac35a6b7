"""Password hashing with a slow, memory-hard KDF (scrypt, as werkzeug implements it): the ``PasswordHasher`` port,
and a bound on how many hashes one instance computes at once."""

from __future__ import annotations

import secrets
import threading
from functools import cached_property

from werkzeug.security import check_password_hash, generate_password_hash

from infra.domain.errors import ServiceUnavailableError

METHOD = "scrypt"  # werkzeug's default parameters: n=2**15, r=8, p=1 (about 0.1 s and 32 MiB per hash)


class ScryptPasswords:
    """werkzeug's scrypt; a hash names its method and parameters, so stored hashes stay verifiable."""

    def hash(self, password: str) -> str:
        """Hash ``password`` with a fresh salt."""
        return generate_password_hash(password, method=METHOD)

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches ``password_hash``."""
        return check_password_hash(password_hash, password)

    def spend_verification_time(self, password: str) -> None:
        """Take as long as a real check, so an unknown username cannot be told from a wrong password by timing."""
        self.verify(self._dummy_hash, password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self.hash(secrets.token_urlsafe(16))


SCRYPT = ScryptPasswords()


class BoundedPasswords:
    """A ``PasswordHasher`` that computes at most ``limit`` hashes at once in this process.

    Each scrypt hash takes 32 MiB and about 0.1 s of CPU; without a bound, a flood of sign-ins (each unknown
    username costs a hash too) would exhaust the instance's memory. A caller that cannot start within ``wait``
    seconds gets 503 with ``Retry-After`` (``busy``): the client retries, and Cloud Run may add an instance.
    """

    def __init__(self, inner, limit: int, *, wait: float = 1.0):
        self.inner = inner
        self.limit = limit
        self.wait = wait
        self._slots = threading.BoundedSemaphore(limit)

    def hash(self, password: str) -> str:
        with self._slot():
            return self.inner.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._slot():
            return self.inner.verify(password_hash, password)

    def spend_verification_time(self, password: str) -> None:
        with self._slot():
            self.inner.spend_verification_time(password)

    def _slot(self):
        if not self._slots.acquire(timeout=self.wait):
            raise ServiceUnavailableError("too many sign-ins in progress; try again", retry_after=1, code="busy")
        return _Release(self._slots)


class _Release:
    def __init__(self, slots: threading.BoundedSemaphore):
        self._slots = slots

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        self._slots.release()
