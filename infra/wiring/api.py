"""The management domain's collaborators for one Flask app: repository, token issuer and verifier, revocation
cache and sign-in policy, each built on first use over the process's shared clients.

``wiring_of(app)`` is the one place views (and ``infra.web.auth``) get them from; tests may put their own
``Wiring`` into ``app.extensions["iot.wiring"]``.
"""

from __future__ import annotations

import threading
from functools import cached_property

from flask import Flask, current_app

from infra.usecases.accounts import AdminAccount, SignInPolicy, admin_account
from infra.wiring.clients import Clients
from infra.config import Settings
from infra.adapters.keys import SigningKey, load_public_keys, load_signing_key
from infra.adapters.firestore import FirestoreRepository
from infra.usecases.revocation import RevocationCache
from infra.adapters.jwt_tokens import TokenIssuer, TokenVerifier

_EXTENSION = "iot.wiring"
_lock = threading.Lock()


class Wiring:
    """Lazily built dependencies of the management API (nothing connects before first use)."""

    def __init__(self, settings: Settings, clients: Clients):
        self.settings = settings
        self.clients = clients

    def load_configuration(self, *, signing: bool = True, admin: bool = False) -> None:
        """Load the keys now, so a configuration error stops start-up instead of failing requests.

        Args:
            signing: the app issues tokens (else it only verifies them: public keys suffice).
            admin: the app bootstraps the admin, so IOT_ADMIN_PASSWORD must be usable.

        Raises:
            ConfigError: naming the missing or malformed variable.
        """
        self.verifier
        if signing:
            self.issuer
        if admin:
            self.admin

    @cached_property
    def repository(self) -> FirestoreRepository:
        return FirestoreRepository(self.clients.firestore)

    @cached_property
    def signing_key(self) -> SigningKey:
        return load_signing_key(self.settings)

    @cached_property
    def issuer(self) -> TokenIssuer:
        return TokenIssuer(self.signing_key, self.settings.token_issuer, self.settings.user_token_ttl)

    @cached_property
    def public_keys(self) -> dict:
        return load_public_keys(self.settings)

    @cached_property
    def verifier(self) -> TokenVerifier:
        return TokenVerifier(self.public_keys, self.settings.token_issuer)

    @cached_property
    def revocations(self) -> RevocationCache:
        return RevocationCache.from_settings(self.repository, self.settings)

    @cached_property
    def signin_policy(self) -> SignInPolicy:
        return SignInPolicy.from_settings(self.settings)

    @cached_property
    def admin(self) -> AdminAccount:
        return admin_account(self.settings)


def wiring_of(app: Flask | None = None) -> Wiring:
    """The wiring of ``app`` (default: the current app), created on first use."""
    app = app or current_app
    wiring = app.extensions.get(_EXTENSION)
    if wiring is None:
        with _lock:
            wiring = app.extensions.get(_EXTENSION)
            if wiring is None:
                wiring = app.extensions[_EXTENSION] = Wiring(app.extensions["iot.settings"],
                                                             app.extensions["iot.clients"])
    return wiring
