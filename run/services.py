"""The services of DESIGN.md §2: one entry per Cloud Run service, plus the local composition on port 8080.

This table is the single source for the local runner, the container entry point, the Cloud Run settings in
cloudbuild.yaml and terraform, and the tests that check they agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import PubSubTopology
# CREDENTIALS_DATABASE: the Firestore database of the credentials, imported from here by the local stack and tests.
# CONTROL_DATABASE: the Firestore database of devices' twins, commands and presence, likewise.
from run.permissions import CONTROL_DATABASE, CREDENTIALS_DATABASE, NONE, PERMISSIONS, Permissions  # noqa: F401


@dataclass(frozen=True)
class Service:
    """One deployable service.

    ``paths`` are the load balancer's URL-map prefixes; ``threads`` equals the Cloud Run ``concurrency``
    because each in-flight request (or open WebSocket) holds one gunicorn thread. What it may do (its IAM) is its
    row of run/permissions.py.
    """

    name: str
    package: str
    port: int
    paths: tuple[str, ...] = ()
    server: str = "gunicorn"  # or "asyncio" (gateway-mqtt)
    threads: int = 16
    timeout: int = 60  # Cloud Run request timeout, seconds
    cpu: str = "1"
    memory: str = "512Mi"
    max_instances: int = 20

    @property
    def module(self) -> str:
        return f"run.{self.package}"

    @property
    def concurrency(self) -> int:
        return self.threads

    @property
    def permissions(self) -> Permissions:
        return PERMISSIONS[self.name]

    @property
    def credentials(self) -> bool:
        """Whether the service reaches the credentials' database (locally only these get IOT_CREDENTIALS_DATABASE)."""
        return self.permissions.credentials != NONE

    @property
    def control(self) -> bool:
        """Whether the service reaches the device-control database (locally only these get IOT_CONTROL_DATABASE)."""
        return self.permissions.control != NONE


# A push may take as long as its ack deadline, and no longer: Cloud Run ends the pipeline's requests there, so
# Pub/Sub never redelivers a message that is still being indexed (tests/deploy/test_push_deadline.py).
PUSH_DEADLINE = PubSubTopology.load().ack_deadline_seconds

SERVICES: tuple[Service, ...] = (
    Service("api-users", "api_users", 8080, ("/api/users", "/.well-known"), threads=8),
    Service("api-devices", "api_devices", 8080, ("/api/devices", "/api/deletions", "/api/rules", "/api/alerts")),
    Service("api-consumers", "api_consumers", 8080, ("/api/consumers",)),
    Service("api-data", "api_data", 8080, ("/api/consumers/consume", "/api/sensors", "/api/exports")),
    Service("web", "web", 8080, ("/",), threads=32),
    Service("gateway-http", "gateway_http", 8083, threads=64),
    # Each open WebSocket holds a thread for its whole life: size threads for long-lived connections.
    Service("gateway-ws", "gateway_ws", 8765, threads=250, timeout=3600),
    Service("gateway-mqtt", "gateway_mqtt", 8766, server="asyncio", threads=1000, timeout=3600),
    Service("pipeline", "pipeline", 8090, threads=16, timeout=PUSH_DEADLINE, max_instances=10),
    # Rule evaluation: its own push subscription on telemetry, so it scales and fails apart from indexing.
    Service("rules", "rules", 8091, threads=16, timeout=PUSH_DEADLINE, max_instances=10),
)

BY_NAME = {service.name: service for service in SERVICES}

# Seconds Cloud Run waits after SIGTERM before it kills an instance: every graceful shutdown must fit in it.
SIGTERM_GRACE = 10

# Locally the API groups and the console share one process on 8080, routed like the load balancer's URL map.
COMPOSED_NAME = "api"
COMPOSED_PORT = 8080
COMPOSED_MEMBERS: tuple[Service, ...] = tuple(s for s in SERVICES if s.port == COMPOSED_PORT)


def reads_credentials(name: str) -> bool:
    """Whether the process ``name`` (a service, or the local composition) may reach the credentials database."""
    return any(service.credentials for service in _members(name))


def reaches_control(name: str) -> bool:
    """Whether the process ``name`` (a service, or the local composition) may reach the device-control database."""
    return any(service.control for service in _members(name))


def _members(name: str) -> tuple[Service, ...]:
    return COMPOSED_MEMBERS if name == COMPOSED_NAME else (BY_NAME[name],)
