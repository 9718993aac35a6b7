"""The ``WebhookSender`` port over HTTP (requests): one POST per attempt, redirects not followed."""

from __future__ import annotations

from typing import Mapping

import requests

TIMEOUT = 5.0  # seconds per attempt: a slow receiver must not hold a push for long


class HttpWebhooks:
    """POSTs alert bodies; one session (connection pool) per process."""

    def __init__(self, timeout: float = TIMEOUT):
        self.timeout = timeout
        self._session = requests.Session()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int | None, str | None]:
        try:
            # No redirects: a 3xx could send the signed body to another host than the owner configured.
            response = self._session.post(url, data=body, headers=dict(headers), timeout=self.timeout,
                                          allow_redirects=False)
        except requests.RequestException as exc:
            return None, f"{type(exc).__name__}: {str(exc)[:200]}"
        return response.status_code, None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"

    def close(self) -> None:
        self._session.close()
