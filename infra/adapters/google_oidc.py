"""The OIDC check of Pub/Sub push requests: a Google-signed ID token for our audience and service account.

In the cloud the push subscription attaches ``Authorization: Bearer <Google ID token>``; the pipeline accepts a
push only when the token verifies against Google's certificates with the configured audience, was issued by
accounts.google.com and names the configured service account (verified e-mail). Locally (the emulator sends
no token) the check is off: it is enabled by ``IOT_PUSH_AUDIENCE``.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Mapping

import google.auth.exceptions
import google.auth.transport
import google.auth.transport.requests
import requests
from google.oauth2 import id_token

from infra.config import Settings
from infra.domain.errors import ForbiddenError, ServiceUnavailableError, UnauthorizedError

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CLOCK_SKEW_SECONDS = 10
CERTS_TIMEOUT_SECONDS = 5.0
CERTS_DEFAULT_MAX_AGE = 300  # Google serves its certificates with max-age of several hours; re-read sooner
CERTS_MAX_AGE_CAP = 3600
_MAX_AGE = re.compile(r"max-age=(\d+)")


class PushVerifier:
    """Verify the ID token of a push request (thread-safe; certificates are cached per their Cache-Control)."""

    def __init__(self, audience: str, service_account: str | None, certs_url: str, *,
                 request: google.auth.transport.Request | None = None):
        self.audience = audience
        self.service_account = service_account
        self.certs_url = certs_url
        self._request = request or CachingRequest(google.auth.transport.requests.Request(requests.Session()))

    @classmethod
    def from_settings(cls, settings: Settings) -> "PushVerifier | None":
        """The verifier the settings ask for, or None when IOT_PUSH_AUDIENCE is unset (the emulator)."""
        if not settings.push_audience:
            return None
        return cls(settings.push_audience, settings.push_service_account, settings.push_certs_url)

    def verify(self, token: str) -> Mapping[str, Any]:
        """Return the claims of a push request's bearer token.

        Raises:
            UnauthorizedError: the token does not verify (signature, expiry, audience, issuer): 401.
            ForbiddenError: a valid Google token of another account: 403.
            ServiceUnavailableError: Google's certificates could not be fetched: 503 (Pub/Sub retries).
        """
        try:
            claims = id_token.verify_token(token, self._request, audience=self.audience, certs_url=self.certs_url,
                                           clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
        except google.auth.exceptions.TransportError as exc:
            raise ServiceUnavailableError(f"Google's certificates could not be fetched: {exc}",
                                          retry_after=10) from None
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            raise UnauthorizedError(f"the push token does not verify: {exc}", code="invalid_token") from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise UnauthorizedError("the push token was not issued by Google", code="invalid_token")
        if self.service_account and (claims.get("email") != self.service_account
                                     or claims.get("email_verified") is not True):
            raise ForbiddenError("the push token belongs to another account", code="wrong_account")
        return claims


class CachingRequest(google.auth.transport.Request):
    """A google-auth transport that caches successful GETs (the certificates) for their ``max-age``.

    ``verify_token`` fetches the certificates on every call; without a cache every push would cost a request
    to Google.
    """

    def __init__(self, inner: google.auth.transport.Request):
        self._inner = inner
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if method != "GET":
            return self._inner(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        hit = self._cache.get(url)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        response = self._inner(url, method=method, body=body, headers=headers,
                               timeout=timeout or CERTS_TIMEOUT_SECONDS, **kwargs)
        if response.status == 200:
            match = _MAX_AGE.search(response.headers.get("Cache-Control", "") or "")
            max_age = min(int(match.group(1)), CERTS_MAX_AGE_CAP) if match else CERTS_DEFAULT_MAX_AGE
            with self._lock:
                self._cache[url] = (time.monotonic() + max_age, response)
        return response
