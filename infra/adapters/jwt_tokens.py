"""JSON Web Tokens of the platform: issued RS256 with a ``kid``, verified with pinned algorithm and audience.

The audiences and claims are the domain's (``infra.domain.claims``); this adapter signs and verifies them with
PyJWT.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.adapters.keys import SigningKey
from infra.domain.claims import AUDIENCES, CONSUMER, DEVICE, USER, Claims, TokenError

ALGORITHM = "RS256"


class JwtIssuer:
    """Sign tokens with the platform's private key."""

    def __init__(self, key: SigningKey, issuer: str, user_ttl: int):
        self.key = key
        self.issuer = issuer
        self.user_ttl = user_ttl

    def issue(self, audience: str, subject: str, *, version: int | None = None, role: str | None = None,
              ttl: int | None = None) -> str:
        """Sign a token for ``subject``; user tokens always expire (``ttl`` or the configured lifetime)."""
        if audience not in AUDIENCES:
            raise ValueError(f"unknown audience {audience!r}")
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": subject, "aud": audience, "iat": now,
                                  "jti": uuid.uuid4().hex}
        if audience == USER:
            ttl = ttl or self.user_ttl
        if ttl:
            claims["exp"] = now + ttl
        if version is not None:
            claims["ver"] = version
        if role is not None:
            claims["role"] = role
        return jwt.encode(claims, self.key.private_key, algorithm=ALGORITHM, headers={"kid": self.key.kid})


class JwtVerifier:
    """Verify tokens with public keys only; signature checks are cached per token (a hit costs microseconds).

    Only the signature and the static claims are cached: expiry is checked on every call.
    """

    def __init__(self, public_keys: dict[str, rsa.RSAPublicKey], issuer: str, cache_size: int = 10_000):
        self.public_keys = public_keys
        self.issuer = issuer
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Claims] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str, audience: str) -> Claims:
        """Return the claims of ``token`` if it is genuine, unexpired and meant for ``audience``.

        Raises:
            TokenError: reason ``malformed``, ``invalid`` (signature, issuer, algorithm, key), ``expired`` or
                ``wrong_audience``.
        """
        with self._lock:
            claims = self._cache.get(token)
            if claims is not None:
                self._cache.move_to_end(token)
        if claims is None:
            claims = self._decode(token)
            with self._lock:
                self._cache[token] = claims
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        if claims.audience != audience:
            raise TokenError("wrong_audience", f"this is a {claims.audience} token; a {audience} token is needed")
        if claims.expired():
            raise TokenError("expired", "the token has expired")
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed", "the token is not a JWT") from None
        # Pin the algorithm before touching the key: refuses alg=none and HS256 signed with the public key.
        if header.get("alg") != ALGORITHM:
            raise TokenError("invalid", f"only {ALGORITHM} tokens are accepted")
        key = self.public_keys.get(header.get("kid"))
        if key is None:
            raise TokenError("invalid", "the token was signed by an unknown key")
        try:
            raw = jwt.decode(token, key, algorithms=[ALGORITHM], issuer=self.issuer,
                             options={"verify_aud": False, "verify_exp": False,
                                      "require": ["iss", "sub", "aud", "iat", "jti"]})
        except jwt.PyJWTError as exc:
            raise TokenError("invalid", f"the token is not valid: {exc}") from None
        audience = raw["aud"]
        if audience not in AUDIENCES:
            raise TokenError("invalid", "the token has an unknown audience")
        if audience == USER and "exp" not in raw:
            raise TokenError("invalid", "user tokens must expire")
        version = raw.get("ver")
        if audience in (DEVICE, CONSUMER) and not isinstance(version, int):
            raise TokenError("invalid", "the token carries no key version")
        return Claims(subject=str(raw["sub"]), audience=audience, issued_at=int(raw["iat"]),
                      expires_at=int(raw["exp"]) if "exp" in raw else None, token_id=str(raw["jti"]),
                      version=version, role=raw.get("role"))
