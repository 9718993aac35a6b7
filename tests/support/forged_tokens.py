"""Tokens an attacker can make without the platform's private key: unsigned (``alg: none``), HS256 keyed with the
public key, and RS256 signed by another key under the platform's ``kid``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from functools import cache

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.adapters.keys import SigningKey


def claims(issuer: str, subject: str, audience: str, *, version: int | None = None, ttl: int = 600) -> dict:
    """Claims of a token the platform would issue now (``ver`` for device and consumer tokens)."""
    now = int(time.time())
    made = {"iss": issuer, "sub": subject, "aud": audience, "iat": now, "exp": now + ttl, "jti": "forged"}
    if version is not None:
        made["ver"] = version
    return made


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(obj: dict) -> str:
    return _b64(json.dumps(obj).encode())


def unsigned(kid: str, body: dict) -> str:
    """``alg: none`` with an empty signature."""
    return f"{_part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_part(body)}."


def hs256_with_public_key(key: SigningKey, body: dict) -> str:
    """HS256 keyed with the PEM of the platform's public key: the classic algorithm confusion."""
    public_pem = key.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_part({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_part(body)}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@cache
def _stranger() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed_by_stranger(kid: str, body: dict) -> str:
    """RS256 by a key the platform never trusted, under the platform's own ``kid``."""
    return jwt.encode(body, _stranger(), algorithm="RS256", headers={"kid": kid})


def resigned(key: SigningKey, body: dict) -> str:
    """RS256 by the platform's key: a genuine signature over claims the platform would never issue (tests only)."""
    return jwt.encode(body, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def tampered(token: str, **changes) -> str:
    """``token`` with claims changed and the original signature kept."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_part({**body, **changes})}.{signature}"
