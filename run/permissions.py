"""What each service may do on Google Cloud: its IAM, as one declared table.

Terraform's grants (iam.tf, secrets.tf, services.tf) and cloudbuild.yaml's flags give each service exactly this
(tests/deploy/test_permissions_parity.py), and the local stack, whose emulators have no IAM, enforces it: each
service process gets clients that refuse what its row does not allow, raising Google's ``PermissionDenied``
(infra/wiring/local_iam.py), so a missing grant fails a test here instead of a request in production.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import PubSubTopology

# Access to a Firestore database: none, read (roles/datastore.viewer) or read and write (roles/datastore.user).
NONE, READ, WRITE = "none", "read", "write"

# Who may invoke a service. Public services have Cloud Run's invoker IAM check switched off (callers authenticate
# with the platform's own tokens); the pipeline keeps it, and only the push subscription's account may invoke it.
PUBLIC = "public"
PUBSUB_PUSH = "pubsub-push"

# Firestore's databases, each granted on its own (a project-level role conditioned on the database's name):
# users, devices, sensors, consumers and grants in (default); the credentials (password hashes, sign-in throttle,
# bootstrap records) in a database of their own; devices' twins, commands and presence, which the internet-facing
# gateways write, in another, so the gateways only read (default) and cannot rewrite a device's key version, a grant
# or a user. Terraform creates both under these names after the environment's prefix.
DEFAULT_DATABASE = "(default)"
CREDENTIALS_DATABASE = "iot-credentials"
CONTROL_DATABASE = "iot-control"

# The topics services publish to: readings (the gateways), alerts (rules). Unprefixed: each environment's names start
# with its IOT_PUBSUB_PREFIX (terraform var.environment). No service consumes a subscription itself: Pub/Sub's consume
# right is project-wide (no resource-name conditions), and would let an internet-facing process drain any
# subscription; gateway instances get their nudges through inboxes in the device-control database instead
# (docs/security.md).
_TOPOLOGY = PubSubTopology.load()
TELEMETRY = _TOPOLOGY.topic
ALERTS = _TOPOLOGY.alerts_topic


@dataclass(frozen=True)
class Secret:
    """A Secret Manager secret mounted as the environment variable ``variable``."""

    variable: str
    secret_id: str


SIGNING_KEY = Secret("IOT_SIGNING_KEY", "iot-signing-key")
JWKS = Secret("IOT_JWKS", "iot-jwks")
ADMIN_PASSWORD = Secret("IOT_ADMIN_PASSWORD", "iot-admin-password")
# api-data, facing the internet, reads Elasticsearch with a key that cannot write; the pipeline writes with its own.
ELASTICSEARCH_READER_KEY = Secret("ELASTICSEARCH_API_KEY", "iot-elasticsearch-reader-key")
ELASTICSEARCH_WRITER_KEY = Secret("ELASTICSEARCH_API_KEY", "iot-elasticsearch-writer-key")


@dataclass(frozen=True)
class Permissions:
    """One service's row: Firestore access per database, the topics it may publish to, its secrets, its invokers."""

    firestore: str = NONE  # the (default) database: NONE, READ or WRITE
    credentials: str = NONE  # the credentials' database (CREDENTIALS_DATABASE): NONE or WRITE
    control: str = NONE  # the device-control database (CONTROL_DATABASE): NONE or WRITE
    publishes: tuple[str, ...] = ()  # the topics it may publish to (TELEMETRY)
    secrets: tuple[Secret, ...] = ()
    invokers: str = PUBLIC

    def __post_init__(self):
        if self.firestore not in (NONE, READ, WRITE) or {self.credentials, self.control} - {NONE, WRITE}:
            raise ValueError(f"unknown Firestore access in {self}")
        if not set(self.publishes) <= {TELEMETRY, ALERTS}:
            raise ValueError(f"unknown topic in {self}")
        if self.invokers not in (PUBLIC, PUBSUB_PUSH):
            raise ValueError(f"unknown invokers {self.invokers!r}")

    def database_access(self, database: str | None) -> str:
        """The access to the Firestore database ``database`` (None: the default one); NONE to any other."""
        if database in (None, DEFAULT_DATABASE):
            return self.firestore
        return {CREDENTIALS_DATABASE: self.credentials, CONTROL_DATABASE: self.control}.get(database, NONE)


# Token issuers sign with the private key; every service that verifies tokens (issuers too) holds the key set.
_ISSUER = (SIGNING_KEY, JWKS)

PERMISSIONS: dict[str, Permissions] = {
    # Deleting a user deletes its devices' control documents.
    "api-users": Permissions(firestore=WRITE, credentials=WRITE, control=WRITE, secrets=(*_ISSUER, ADMIN_PASSWORD)),
    # It stores commands and desired states, then nudges the gateway instances through their inboxes in the
    # device-control database (docs/device-control.md).
    "api-devices": Permissions(firestore=WRITE, control=WRITE, secrets=_ISSUER),
    "api-consumers": Permissions(firestore=WRITE, secrets=_ISSUER),
    "api-data": Permissions(firestore=READ, secrets=(JWKS, ELASTICSEARCH_READER_KEY)),
    "web": Permissions(),
    # The gateways read devices and sensors, and write devices' twins, commands and presence (docs/device-control.md);
    # the two holding open sessions listen to their own inboxes there, deleting the nudges they handled.
    "gateway-http": Permissions(firestore=READ, control=WRITE, publishes=(TELEMETRY,), secrets=(JWKS,)),
    "gateway-ws": Permissions(firestore=READ, control=WRITE, publishes=(TELEMETRY,), secrets=(JWKS,)),
    # It reports the payloads it refuses on Pub/Sub for the pipeline to record (run/gateway_mqtt/main.py PubSubSink)
    # rather than holding a Firestore write role, which would let an internet-facing process change every document.
    "gateway-mqtt": Permissions(firestore=READ, control=WRITE, publishes=(TELEMETRY,), secrets=(JWKS,)),
    "pipeline": Permissions(firestore=WRITE, secrets=(ELASTICSEARCH_WRITER_KEY,), invokers=PUBSUB_PUSH),
    # Rule states and alerts in Firestore; alert events on their own topic. Pushes and Cloud Scheduler's ticks
    # come with the push service account's OIDC token.
    "rules": Permissions(firestore=WRITE, publishes=(ALERTS,), invokers=PUBSUB_PUSH),
}
