"""Password hashing with a slow, memory-hard KDF (scrypt, as werkzeug implements it)."""

from __future__ import annotations

import secrets
from functools import lru_cache

from werkzeug.security import check_password_hash, generate_password_hash

METHOD = "scrypt"  # werkzeug's default parameters: n=2**15, r=8, p=1 (about 0.1 s and 32 MiB per hash)


def hash_password(password: str) -> str:
    """Hash ``password`` with a fresh salt; the result names its method and parameters."""
    return generate_password_hash(password, method=METHOD)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``."""
    return check_password_hash(password_hash, password)


def spend_verification_time(password: str) -> None:
    """Take as long as a real check, so an unknown username cannot be told from a wrong password by timing."""
    verify_password(_dummy_hash(), password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
