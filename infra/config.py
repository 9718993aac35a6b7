"""Settings of every service, read once from environment variables.

Each variable is declared once in ``VARIABLES`` with its default and meaning; the README's configuration
table is checked against it. Locally everything defaults to loopback and Google's emulators; on Cloud Run
(``K_SERVICE`` is set) the environment defaults to ``production``, where development conveniences such as
generated keys are refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGY_FILE = Path(__file__).with_name("pubsub_topology.json")


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, default (None = unset) and what it does."""

    name: str
    default: str | None
    doc: str


VARIABLES: tuple[Variable, ...] = (
    Variable("GOOGLE_CLOUD_PROJECT", "iot-local", "Google Cloud project id (the emulators accept any)."),
    Variable("IOT_ENV", None, "`development` or `production`; defaults to `production` on Cloud Run "
             "(`K_SERVICE` set), else `development`. Production refuses generated keys and passwords."),
    Variable("PUBSUB_EMULATOR_HOST", None, "Pub/Sub emulator `host:port`; unset means real Pub/Sub. "
             "`make dev` uses 127.0.0.1:8085."),
    Variable("FIRESTORE_EMULATOR_HOST", None, "Firestore emulator `host:port`; unset means real Firestore. "
             "`make dev` uses 127.0.0.1:8086."),
    Variable("IOT_FIRESTORE_DATABASE", "(default)", "Firestore database of users, devices, sensors, consumers and "
             "grants: `(default)`, or `ENVIRONMENT-iot` for a further environment of a project (terraform's "
             "`environment`)."),
    Variable("IOT_CREDENTIALS_DATABASE", None, "Firestore database of the credentials (password hashes, the sign-in "
             "throttle, bootstrap records); set for api-users only, the one service IAM lets read it "
             "(`iot-credentials` in `make dev` and the deployments). Unset: no access."),
    Variable("IOT_CONTROL_DATABASE", None, "Firestore database of devices' twins, commands and presence; set for "
             "the services IAM lets write it: api-users, api-devices and the gateways (`iot-control` in `make dev` and "
             "the deployments). Unset: no access."),
    Variable("IOT_SERVICE", None, "The service this process runs (`run/services.py`; `api` for the local "
             "composition). Cloud Run and the local stack set it per process; on the emulators it makes the process's "
             "clients refuse what the service's IAM row (`run/permissions.py`) does not allow."),
    Variable("ELASTICSEARCH_URL", "http://127.0.0.1:9200", "Elasticsearch endpoint; locally the stand-in, "
             "or a real cluster when set."),
    Variable("ELASTICSEARCH_API_KEY", None, "API key for Elasticsearch (Secret Manager in the cloud)."),
    Variable("IOT_DATA_DIR", ".local", "Ignored local folder for generated keys, the generated admin "
             "password, stand-in data and logs (relative to the repository)."),
    Variable("IOT_SIGNING_KEY", None, "PEM of the current RSA private key, which signs tokens (from Secret "
             "Manager). Its public half must be in IOT_JWKS when that is set. In development, generated into "
             "IOT_DATA_DIR when neither this nor the file is set."),
    Variable("IOT_SIGNING_KEY_FILE", None, "Path of a PEM file holding the current RSA private signing key."),
    Variable("IOT_JWKS", None, "JWKS JSON of the public keys every service accepts tokens of, by `kid`: the "
             "current key, and during a rotation the previous or next one; api-users publishes it at "
             "`/.well-known/jwks.json`. Defaults to the public half of the signing key."),
    Variable("IOT_JWKS_FILE", None, "Path of a JWKS JSON file, read when IOT_JWKS is unset."),
    Variable("IOT_TOKEN_ISSUER", "iot-platform", "`iss` claim of every token."),
    Variable("IOT_USER_TOKEN_TTL", "3600", "Lifetime of user tokens in seconds."),
    Variable("IOT_REVOCATION_CACHE_TTL", "60", "Seconds a verifier may cache a key version (revocation "
             "delay upper bound)."),
    Variable("IOT_ADMIN_USERNAME", "root", "Username of the bootstrapped admin account."),
    Variable("IOT_ADMIN_PASSWORD", None, "Password of the bootstrapped admin. In development, generated, "
             "stored in IOT_DATA_DIR and printed once when unset; required in production."),
    Variable("IOT_SIGNIN_MAX_FAILURES", "5", "Sign-in attempts that did not succeed allowed per (username, "
             "client address) within IOT_SIGNIN_WINDOW; further attempts get 429 with Retry-After."),
    Variable("IOT_SIGNIN_WINDOW", "300", "Sign-in throttle window in seconds."),
    Variable("IOT_SIGNIN_MAX_FAILURES_PER_USER", "20", "Sign-in attempts that did not succeed allowed per username "
             "from addresses it never signed in from, across all of them, within IOT_SIGNIN_USER_WINDOW (429 "
             "beyond). Addresses it signed in from before stay exempt, so nobody can lock the owner out."),
    Variable("IOT_SIGNIN_USER_WINDOW", "900", "Window of the per-username sign-in limit in seconds."),
    Variable("IOT_PASSWORD_HASH_CONCURRENCY", "2", "Password hashes (scrypt: 32 MiB and ~0.1 s of CPU each) one "
             "instance computes at once; a sign-in that cannot start one within a second gets 503 with "
             "Retry-After."),
    Variable("IOT_TRUSTED_PROXY_HOPS", "0", "Proxies in front of the API (and of gateway-mqtt's WebSocket) that "
             "append to X-Forwarded-For; the client address (for the sign-in throttle, and gateway-mqtt's bound "
             "per address) is read that many entries from its right end. 0 uses the socket peer. Cloud Run: 1 "
             "when called directly, 2 behind the external HTTPS load balancer."),
    Variable("IOT_PUBSUB_PREFIX", None, "Prefix of every topic and subscription name of "
             "`infra/pubsub_topology.json`: an environment sharing its project with others (terraform's `environment`) "
             "has its own Pub/Sub resources, e.g. `staging-telemetry`."),
    Variable("IOT_PUSH_ENDPOINT", "http://127.0.0.1:8090/pubsub/push", "Where the `telemetry-indexer` push "
             "subscription delivers (the pipeline)."),
    Variable("IOT_RULES_PUSH_ENDPOINT", "http://127.0.0.1:8091/pubsub/push", "Where the `telemetry-rules` push "
             "subscription delivers (the rules service)."),
    Variable("IOT_EXTENSION_PUSH_ENDPOINTS", None, "Operators' own processing: comma-separated `name=url` pairs; "
             "the local bootstrap adds a push subscription `telemetry-ext-NAME` on `telemetry` to each URL "
             "(terraform: `extension_push_endpoints`)."),
    Variable("IOT_WEBHOOK_ATTEMPTS", "5", "Attempts to deliver an alert to its rule's webhook before the delivery "
             "is recorded as failed."),
    Variable("IOT_WEBHOOK_BACKOFF", "1", "Seconds before the first webhook retry; each further retry waits twice as "
             "long."),
    Variable("IOT_RULES_TICK_INTERVAL", "30", "Seconds between the ticks `make dev` sends the rules service for "
             "no-data rules (Cloud Scheduler's job in terraform ticks every minute)."),
    Variable("IOT_PUSH_AUDIENCE", None, "Expected audience of the OIDC token on Pub/Sub pushes; unset "
             "disables the check (emulator)."),
    Variable("IOT_PUSH_SERVICE_ACCOUNT", None, "Service account e-mail expected in the push OIDC token."),
    Variable("IOT_PUSH_CERTS_URL", "https://www.googleapis.com/oauth2/v1/certs", "Where the pipeline fetches "
             "Google's certificates to verify push OIDC tokens. Tests only: point it at a local server."),
    Variable("IOT_PUBLISH_TIMEOUT", "10", "Seconds a gateway waits for Pub/Sub to confirm a publish before "
             "answering 503."),
    Variable("IOT_INGEST_MAX_BYTES", "262144", "Largest ingestion request (HTTP body, WebSocket frame, MQTT "
             "payload) in bytes; larger is a 413."),
    Variable("IOT_INGEST_MAX_RECORDS", "1000", "Most records in one ingestion request."),
    Variable("IOT_INGEST_RATE", "100", "Requests per second one device may send to one gateway instance "
             "(token bucket per instance; the limit is not global)."),
    Variable("IOT_INGEST_BURST", "200", "Burst size of the per-device token bucket."),
    Variable("IOT_READING_MAX_AGE_DAYS", "366", "How far before its time of receipt a reading's timestamp may "
             "lie; older readings are refused (422) with a per-record error."),
    Variable("IOT_READING_MAX_AHEAD_SECONDS", "86400", "How far after its time of receipt a reading's timestamp "
             "may lie (device clocks run ahead); later readings are refused (422)."),
    Variable("IOT_READING_MAX_MONTHS", "3", "Most distinct calendar months (UTC) the readings of one request may "
             "span; each month is an Elasticsearch index, so this bounds the indices one request can create."),
    Variable("IOT_ELASTICSEARCH_REPLICAS", "1", "Replicas of each monthly telemetry index (set in the index "
             "template; 0 only for a single-node cluster). Applies to indices created after a change."),
    Variable("IOT_RETENTION_MONTHS", "13", "Months readings are kept: the pipeline's retention tick drops each "
             "monthly index once its whole month lies that many months back, so a reading is kept at least that "
             "long and at most a month more. Keep IOT_READING_MAX_AGE_DAYS below it."),
    Variable("IOT_WS_MAX_PENDING_FRAMES", "8", "Frames one WebSocket may send ahead of their acks; beyond it "
             "gateway-ws stops reading that socket until acks catch up (TCP backpressure)."),
    Variable("IOT_WS_MAX_SOCKETS_PER_DEVICE", "4", "Open WebSockets one device may hold on one gateway-ws "
             "instance; a further upgrade is refused with 429 `too_many_sockets` and Retry-After."),
    Variable("IOT_MQTT_MAX_PENDING_PER_ADDRESS", "32", "Connections from one client address that gateway-mqtt "
             "holds before their CONNECT is accepted (per instance); more are dropped at once."),
    Variable("IOT_ONLINE_WINDOW", "300", "Seconds after its last message a device without an open WebSocket or MQTT "
             "session still counts as online (`status.online`, `GET /api/devices?status=online`)."),
    Variable("IOT_PRESENCE_INTERVAL", "30", "Seconds between a gateway instance's writes of one device's `last_seen` "
             "(the first sighting after a quiet spell is written at once): how far `last_seen` may lag, and what "
             "keeps an instance's open sessions counted."),
    Variable("IOT_BIND_HOST", "127.0.0.1", "Address services listen on (the container sets 0.0.0.0)."),
    Variable("PORT", None, "Listening port of a service (Cloud Run sets it); defaults to the service's "
             "local port."),
    Variable("IOT_MQTT_TCP_PORT", "1883", "MQTT over TCP port of gateway-mqtt; 0 disables TCP (Cloud Run)."),
    Variable("IOT_CONSOLE_GATEWAY_URL", "http://127.0.0.1:8083/", "HTTP gateway URL the console shows in its "
             "device examples (deployments set gateway-http's public URL)."),
    Variable("IOT_WORKERS", None, "gunicorn worker processes; defaults per service (one per vCPU)."),
    Variable("IOT_THREADS", None, "gunicorn threads per worker; defaults per service."),
    Variable("LOG_LEVEL", "INFO", "Minimum log severity."),
)

_DEFAULTS = {v.name: v.default for v in VARIABLES}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class PubSubTopology:
    """Names of the Pub/Sub resources; terraform reads the same JSON file."""

    topic: str
    dead_letter_topic: str
    push_subscription: str
    dead_letter_subscription: str
    push_path: str
    max_delivery_attempts: int
    # Backoff between redeliveries; with max_delivery_attempts it sets the outage budget (infra/ops/dead_letters.py).
    min_retry_delay: str
    max_retry_delay: str
    ack_deadline_seconds: int
    message_retention: str
    # Alert events of the rules service, and its push subscription on the telemetry topic.
    alerts_topic: str
    rules_subscription: str
    # Operators' own push subscriptions on the telemetry topic are named this prefix plus their name.
    extension_subscription_prefix: str

    @classmethod
    def load(cls, prefix: str = "") -> "PubSubTopology":
        """Read the topology file shipped with the package; ``prefix`` starts every topic and subscription name."""
        topology = json.loads(TOPOLOGY_FILE.read_text())
        for name in ("topic", "dead_letter_topic", "push_subscription", "dead_letter_subscription", "alerts_topic",
                     "rules_subscription", "extension_subscription_prefix"):
            topology[name] = prefix + topology[name]
        return cls(**topology)


@dataclass(frozen=True)
class Settings:
    """Every setting a service needs; build with ``Settings.from_env()``."""

    project_id: str
    env: str
    pubsub_emulator_host: str | None
    firestore_emulator_host: str | None
    firestore_database: str
    credentials_database: str | None
    control_database: str | None
    service: str | None
    elasticsearch_url: str
    elasticsearch_api_key: str | None
    data_dir: Path
    signing_key_pem: str | None
    signing_key_file: Path | None
    jwks_json: str | None
    jwks_file: Path | None
    token_issuer: str
    user_token_ttl: int
    revocation_cache_ttl: int
    admin_username: str
    admin_password: str | None
    signin_max_failures: int
    signin_window: int
    signin_max_failures_per_user: int
    signin_user_window: int
    password_hash_concurrency: int
    trusted_proxy_hops: int
    push_endpoint: str
    push_audience: str | None
    rules_push_endpoint: str
    extension_push_endpoints: str | None
    webhook_attempts: int
    webhook_backoff: float
    rules_tick_interval: float
    push_service_account: str | None
    push_certs_url: str
    publish_timeout: float
    ingest_max_bytes: int
    ingest_max_records: int
    ingest_rate: float
    ingest_burst: int
    reading_max_age_days: int
    reading_max_ahead_seconds: int
    reading_max_months: int
    elasticsearch_replicas: int
    retention_months: int
    ws_max_pending_frames: int
    ws_max_sockets_per_device: int
    mqtt_max_pending_per_address: int
    online_window: int
    presence_interval: float
    bind_host: str
    port: int | None
    mqtt_tcp_port: int
    console_gateway_url: str
    workers: int | None
    threads: int | None
    log_level: str
    pubsub_prefix: str
    topology: PubSubTopology  # the topology file's names, each after pubsub_prefix

    @property
    def development(self) -> bool:
        """True when development conveniences (generated keys and passwords) are allowed."""
        return self.env == "development"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Read every variable of ``VARIABLES``; ``overrides`` replace fields (tests)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else _DEFAULTS[name]

        def number(name: str, kind=int):
            raw = get(name)
            if raw is None:
                return None
            try:
                return kind(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {raw!r}") from None

        def path(name: str) -> Path | None:
            raw = get(name)
            if raw is None:
                return None
            p = Path(raw)
            return p if p.is_absolute() else ROOT / p

        mode = get("IOT_ENV") or ("production" if env.get("K_SERVICE") else "development")
        if mode not in ("development", "production"):
            raise ConfigError(f"IOT_ENV must be 'development' or 'production', got {mode!r}")
        values = dict(
            project_id=get("GOOGLE_CLOUD_PROJECT"),
            env=mode,
            pubsub_emulator_host=get("PUBSUB_EMULATOR_HOST"),
            firestore_emulator_host=get("FIRESTORE_EMULATOR_HOST"),
            firestore_database=get("IOT_FIRESTORE_DATABASE"),
            credentials_database=get("IOT_CREDENTIALS_DATABASE"),
            control_database=get("IOT_CONTROL_DATABASE"),
            service=get("IOT_SERVICE"),
            elasticsearch_url=get("ELASTICSEARCH_URL"),
            elasticsearch_api_key=get("ELASTICSEARCH_API_KEY"),
            data_dir=path("IOT_DATA_DIR"),
            signing_key_pem=get("IOT_SIGNING_KEY"),
            signing_key_file=path("IOT_SIGNING_KEY_FILE"),
            jwks_json=get("IOT_JWKS"),
            jwks_file=path("IOT_JWKS_FILE"),
            token_issuer=get("IOT_TOKEN_ISSUER"),
            user_token_ttl=number("IOT_USER_TOKEN_TTL"),
            revocation_cache_ttl=number("IOT_REVOCATION_CACHE_TTL"),
            admin_username=get("IOT_ADMIN_USERNAME"),
            admin_password=get("IOT_ADMIN_PASSWORD"),
            signin_max_failures=number("IOT_SIGNIN_MAX_FAILURES"),
            signin_window=number("IOT_SIGNIN_WINDOW"),
            signin_max_failures_per_user=number("IOT_SIGNIN_MAX_FAILURES_PER_USER"),
            signin_user_window=number("IOT_SIGNIN_USER_WINDOW"),
            password_hash_concurrency=number("IOT_PASSWORD_HASH_CONCURRENCY"),
            trusted_proxy_hops=number("IOT_TRUSTED_PROXY_HOPS"),
            push_endpoint=get("IOT_PUSH_ENDPOINT"),
            push_audience=get("IOT_PUSH_AUDIENCE"),
            rules_push_endpoint=get("IOT_RULES_PUSH_ENDPOINT"),
            extension_push_endpoints=get("IOT_EXTENSION_PUSH_ENDPOINTS"),
            webhook_attempts=number("IOT_WEBHOOK_ATTEMPTS"),
            webhook_backoff=number("IOT_WEBHOOK_BACKOFF", float),
            rules_tick_interval=number("IOT_RULES_TICK_INTERVAL", float),
            push_service_account=get("IOT_PUSH_SERVICE_ACCOUNT"),
            push_certs_url=get("IOT_PUSH_CERTS_URL"),
            publish_timeout=number("IOT_PUBLISH_TIMEOUT", float),
            ingest_max_bytes=number("IOT_INGEST_MAX_BYTES"),
            ingest_max_records=number("IOT_INGEST_MAX_RECORDS"),
            ingest_rate=number("IOT_INGEST_RATE", float),
            ingest_burst=number("IOT_INGEST_BURST"),
            reading_max_age_days=number("IOT_READING_MAX_AGE_DAYS"),
            reading_max_ahead_seconds=number("IOT_READING_MAX_AHEAD_SECONDS"),
            reading_max_months=number("IOT_READING_MAX_MONTHS"),
            elasticsearch_replicas=number("IOT_ELASTICSEARCH_REPLICAS"),
            retention_months=number("IOT_RETENTION_MONTHS"),
            ws_max_pending_frames=number("IOT_WS_MAX_PENDING_FRAMES"),
            ws_max_sockets_per_device=number("IOT_WS_MAX_SOCKETS_PER_DEVICE"),
            mqtt_max_pending_per_address=number("IOT_MQTT_MAX_PENDING_PER_ADDRESS"),
            online_window=number("IOT_ONLINE_WINDOW"),
            presence_interval=number("IOT_PRESENCE_INTERVAL", float),
            bind_host=get("IOT_BIND_HOST"),
            port=number("PORT"),
            mqtt_tcp_port=number("IOT_MQTT_TCP_PORT"),
            console_gateway_url=get("IOT_CONSOLE_GATEWAY_URL"),
            workers=number("IOT_WORKERS"),
            threads=number("IOT_THREADS"),
            log_level=get("LOG_LEVEL").upper(),
            pubsub_prefix=get("IOT_PUBSUB_PREFIX") or "",
        )
        if values["retention_months"] < 1:
            raise ConfigError(f"IOT_RETENTION_MONTHS must be at least 1, got {values['retention_months']}")
        values["topology"] = PubSubTopology.load(values["pubsub_prefix"])
        values.update(overrides)
        return cls(**values)
