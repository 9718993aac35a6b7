"""Password hashing with a slow, memory-hard KDF (scrypt, as werkzeug implements it): the ``PasswordHasher`` port."""

from __future__ import annotations

import secrets
from functools import cached_property

from werkzeug.security import check_password_hash, generate_password_hash

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
