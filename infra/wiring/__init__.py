"""The composition root of one Flask app: the adapters plugged into the use cases, each built on first use.

``wiring_of(app)`` is the one way routes (and ``infra.web.auth``) reach their dependencies: the repository, token
issuer and verifier, revocation cache, password hasher and sign-in policy of the management API; device control
(status, twins, commands) of api-devices; the telemetry reader of the data API; the ingestor of a gateway; the push indexer and verifier of the pipeline. Nothing connects
before first use. Tests replace a dependency by assigning the attribute (``wiring_of(app).ingestor = fake``).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from infra.config import ConfigError, Settings
from infra.wiring.clients import Clients

if TYPE_CHECKING:
    from flask import Flask

    from infra.adapters.elasticsearch import TelemetryReader, TemplateInstaller
    from infra.adapters.firestore import FirestoreRepository
    from infra.adapters.firestore_rejections import FirestoreRejections
    from infra.adapters.firestore_rules import FirestoreRules
    from infra.adapters.google_oidc import PushVerifier
    from infra.adapters.jwt_tokens import JwtIssuer, JwtVerifier
    from infra.adapters.keys import SigningKey
    from infra.adapters.passwords import BoundedPasswords
    from infra.usecases.accounts import AdminAccount, SignInPolicy
    from infra.adapters.elasticsearch.lifecycle import MonthlyIndices
    from infra.adapters.firestore_deletions import FirestoreDeletions
    from infra.usecases.control import OwnerControl
    from infra.usecases.deletions import DeletionRequests, DeletionWorker, Tombstones
    from infra.usecases.device_control import DeviceControl
    from infra.usecases.indexing import PushIndexer
    from infra.usecases.ingest import Ingestor
    from infra.usecases.revocation import RevocationCache
    from infra.usecases.rule_engine import RuleEngine

EXTENSION = "iot.wiring"


class Wiring:
    """Lazily built dependencies of one app over the process's shared clients.

    A gateway sets its ``ingestor`` (and gateway-http its ``device_control``) when it builds its app
    (``infra.wiring.gateway``); gateway-ws keeps its socket bookkeeping in ``extras``.
    """

    def __init__(self, settings: Settings, clients: Clients):
        self.settings = settings
        self.clients = clients
        self.ingestor: Ingestor | None = None
        self.device_control: DeviceControl | None = None
        self.extras: dict[str, Any] = {}

    def load_configuration(self, *, signing: bool = True, admin: bool = False) -> None:
        """Load the keys now, so a configuration error stops start-up instead of failing requests.

        Args:
            signing: the app issues tokens (else it only verifies them: public keys suffice).
            admin: the app bootstraps the admin and checks passwords, so IOT_ADMIN_PASSWORD must be usable and
                IOT_CREDENTIALS_DATABASE set.

        Raises:
            ConfigError: naming the missing or malformed variable.
        """
        self.verifier
        if signing:
            self.issuer
        if admin:
            self.admin
            if not self.settings.credentials_database:
                raise ConfigError("IOT_CREDENTIALS_DATABASE is required by api-users (the credentials' database)")

    # --- the management API -----------------------------------------------------------------------------------

    @cached_property
    def repository(self) -> FirestoreRepository:
        from infra.adapters.firestore import FirestoreRepository

        # The credentials' database only where it is configured: api-users (IAM grants no other service); the
        # device-control database, whose documents go with a deleted device or user, where that is.
        credentials = self.clients.credentials_firestore if self.settings.credentials_database else None
        control = self.clients.control_firestore if self.settings.control_database else None
        return FirestoreRepository(self.clients.firestore, credentials, control)

    @cached_property
    def signing_key(self) -> SigningKey:
        from infra.adapters.keys import load_signing_key

        return load_signing_key(self.settings)

    @cached_property
    def issuer(self) -> JwtIssuer:
        from infra.adapters.jwt_tokens import JwtIssuer
        from infra.adapters.keys import require_published

        require_published(self.signing_key, self.public_keys)
        return JwtIssuer(self.signing_key, self.settings.token_issuer, self.settings.user_token_ttl)

    @cached_property
    def public_keys(self) -> dict:
        from infra.adapters.keys import load_public_keys

        # Without a key set (development), the signing key's public half: signing_key's parse, done once.
        fallback = None if (self.settings.jwks_json or self.settings.jwks_file) else self.signing_key
        return load_public_keys(self.settings, fallback)

    @cached_property
    def jwks(self) -> dict:
        """The public keys that verify this platform's tokens (current, previous, next), as a JWK set."""
        from infra.adapters.keys import public_jwk

        return {"keys": [public_jwk(key, kid) for kid, key in self.public_keys.items()]}

    @cached_property
    def verifier(self) -> JwtVerifier:
        from infra.adapters.jwt_tokens import JwtVerifier

        return JwtVerifier(self.public_keys, self.settings.token_issuer)

    @cached_property
    def revocations(self) -> RevocationCache:
        from infra.usecases.revocation import RevocationCache

        return RevocationCache(self.repository, self.settings.revocation_cache_ttl)

    @cached_property
    def passwords(self) -> BoundedPasswords:
        from infra.adapters.passwords import SCRYPT, BoundedPasswords

        return BoundedPasswords(SCRYPT, self.settings.password_hash_concurrency)

    @cached_property
    def signin_policy(self) -> SignInPolicy:
        from infra.usecases.accounts import SignInPolicy

        return SignInPolicy(self.settings.signin_max_failures, self.settings.signin_window,
                            self.settings.signin_max_failures_per_user, self.settings.signin_user_window)

    @cached_property
    def admin(self) -> AdminAccount:
        from infra.wiring.admin import admin_account

        return admin_account(self.settings)

    @cached_property
    def rejections(self) -> FirestoreRejections:
        from infra.adapters.firestore_rejections import FirestoreRejections

        return FirestoreRejections(self.clients.firestore)

    @cached_property
    def control(self) -> OwnerControl:
        """The owner's side of device control: status, twins and commands, nudging the gateways."""
        from infra.adapters.firestore_control import FirestoreControl
        from infra.usecases.control import OwnerControl, StatusPolicy

        policy = StatusPolicy.from_seconds(self.settings.online_window, self.settings.presence_interval)
        return OwnerControl(self.repository, FirestoreControl(self.clients.control_firestore), self.clients.control_bus,
                            policy)

    # --- data lifecycle: deletion tasks (requested by the API, worked through by the pipeline), retention -------

    @cached_property
    def deletions(self) -> FirestoreDeletions:
        from infra.adapters.firestore_deletions import FirestoreDeletions

        return FirestoreDeletions(self.clients.firestore)

    @cached_property
    def erasures(self) -> DeletionRequests:
        from infra.domain.deletions import erasing_grace
        from infra.usecases.deletions import DeletionRequests

        return DeletionRequests(self.deletions, erasing_grace(self.settings.revocation_cache_ttl))

    @cached_property
    def deletion_worker(self) -> DeletionWorker:
        from infra.adapters.elasticsearch.lifecycle import Eraser
        from infra.usecases.deletions import DeletionWorker

        return DeletionWorker(self.deletions, Eraser(lambda: self.clients.elasticsearch))

    @cached_property
    def tombstones(self) -> Tombstones:
        from infra.usecases.deletions import Tombstones

        return Tombstones(self.deletions, self.settings.revocation_cache_ttl)

    @cached_property
    def telemetry_indices(self) -> MonthlyIndices:
        from infra.adapters.elasticsearch.lifecycle import MonthlyIndices

        return MonthlyIndices(lambda: self.clients.elasticsearch)

    # --- reading telemetry --------------------------------------------------------------------------------------

    @cached_property
    def telemetry(self) -> TelemetryReader:
        from infra.adapters.elasticsearch import TelemetryReader

        return TelemetryReader(lambda: self.clients.elasticsearch)

    # --- the pipeline ---------------------------------------------------------------------------------------------

    @cached_property
    def template_installer(self) -> TemplateInstaller:
        from infra.adapters.elasticsearch import TemplateInstaller

        return TemplateInstaller(lambda: self.clients.elasticsearch, self.settings.elasticsearch_replicas)

    @cached_property
    def push_indexer(self) -> PushIndexer:
        from infra.adapters.elasticsearch import ElasticsearchTelemetry
        from infra.usecases.indexing import PushIndexer

        store = ElasticsearchTelemetry(lambda: self.clients.elasticsearch, self.template_installer)
        return PushIndexer(store, self.rejections, self.tombstones)

    @cached_property
    def push_verifier(self) -> PushVerifier | None:
        from infra.adapters.google_oidc import PushVerifier

        return PushVerifier.from_settings(self.settings)

    # --- rules and alerts -------------------------------------------------------------------------------------------

    @cached_property
    def rules(self) -> FirestoreRules:
        from infra.adapters.firestore_rules import FirestoreRules

        return FirestoreRules(self.clients.firestore)

    @cached_property
    def rule_engine(self) -> RuleEngine:
        from infra.adapters.webhooks import HttpWebhooks
        from infra.usecases.rule_engine import Delivery, RuleEngine

        webhooks = HttpWebhooks()
        self.clients.at_close(webhooks.close)
        delivery = Delivery(self.settings.webhook_attempts, self.settings.webhook_backoff)
        return RuleEngine(self.rules, self.clients.alerts_publisher, webhooks, delivery)


def attach(app: Flask, settings: Settings, clients: Clients) -> Wiring:
    """Give ``app`` its wiring (``infra.web.app.create_flask_app`` does, for every service)."""
    wiring = app.extensions[EXTENSION] = Wiring(settings, clients)
    return wiring


def wiring_of(app: Flask | None = None) -> Wiring:
    """The wiring of ``app`` (default: the current app)."""
    if app is None:
        from flask import current_app

        app = current_app
    return app.extensions[EXTENSION]
