"""The whole platform on one machine: emulators, the Elasticsearch stand-in, bootstrap and every service.

``make dev`` runs it on the fixed ports of DESIGN.md §2; the test suite runs the same stack on free ports so
several runs (and a running ``make dev``) never collide.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from emulators import gcloud
from emulators.process import ManagedProcess, StartupError, free_port, port_is_free, wait_until
from infra.config import ROOT, Settings
from run.services import CONTROL_DATABASE, CREDENTIALS_DATABASE, reaches_control, reads_credentials

logger = logging.getLogger(__name__)

SERVICE_START_TIMEOUT = 30.0


@dataclass
class Ports:
    """Every port of the local stack."""

    pubsub: int = 8085
    firestore: int = 8086
    elasticsearch: int = 9200
    api: int = 8080
    gateway_http: int = 8083
    gateway_ws: int = 8765
    gateway_mqtt: int = 8766
    mqtt_tcp: int = 1883
    pipeline: int = 8090
    rules: int = 8091
    _solo: dict = field(default_factory=dict, repr=False)

    @classmethod
    def names(cls) -> list[str]:
        """The named ports (not the ones handed out to services started alone)."""
        return [name for name in cls.__dataclass_fields__ if not name.startswith("_")]

    @classmethod
    def free(cls) -> "Ports":
        """A set of currently free ephemeral ports (tests)."""
        return cls(**{name: free_port() for name in cls.names()})

    def for_process(self, name: str) -> int:
        """The HTTP port of a local process (``api`` or a service name).

        A service that ``make dev`` serves inside the composed ``api`` (e.g. ``api-users``) gets a free port
        of its own when started alone, as on Cloud Run.
        """
        attribute = name.replace("-", "_")
        if attribute not in self.names():
            self._solo.setdefault(attribute, free_port())
            return self._solo[attribute]
        return getattr(self, attribute)


# What `make dev` runs besides the emulators: (process name, the service's health URL path).
PROCESSES = ("api", "gateway-http", "gateway-ws", "gateway-mqtt", "pipeline", "rules")


def extension_endpoints(raw: str | None) -> dict[str, str]:
    """``IOT_EXTENSION_PUSH_ENDPOINTS`` (``name=url,...``) as ``{name: url}``."""
    pairs = [part.strip() for part in (raw or "").split(",") if part.strip()]
    endpoints = {}
    for pair in pairs:
        name, _, url = pair.partition("=")
        if not name.strip() or not url.strip():
            raise StartupError(f"IOT_EXTENSION_PUSH_ENDPOINTS: {pair!r} is not name=url")
        endpoints[name.strip()] = url.strip()
    return endpoints


@dataclass
class LocalStack:
    """Start, describe and stop the local platform."""

    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    project: str = "iot-local"
    elasticsearch_url: str | None = None  # a real cluster; None starts the stand-in
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # lines for the person running the stack
    _backends: list = field(default_factory=list)

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def es_url(self) -> str:
        return self.elasticsearch_url or f"http://127.0.0.1:{self.ports.elasticsearch}"

    def env(self) -> dict[str, str]:
        """The environment every service process of this stack gets."""
        return {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "IOT_ENV": "development",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.ports.pubsub}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.ports.firestore}",
            "ELASTICSEARCH_URL": self.es_url,
            "IOT_DATA_DIR": str(self.data_dir),
            "IOT_PUSH_ENDPOINT": f"http://127.0.0.1:{self.ports.pipeline}/pubsub/push",
            "IOT_RULES_PUSH_ENDPOINT": f"http://127.0.0.1:{self.ports.rules}/pubsub/push",
            "IOT_MQTT_TCP_PORT": str(self.ports.mqtt_tcp),
            # Apps a test builds in-process reach the device-control database; a service process only when entitled.
            "IOT_CONTROL_DATABASE": CONTROL_DATABASE,
            "PYTHONUNBUFFERED": "1",
        }

    def service_env(self, name: str) -> dict[str, str]:
        """The environment of the service (or composition) ``name``: ``env()``, its name (``IOT_SERVICE``, which on
        the emulators restricts its clients to its IAM row, run/permissions.py), and the credentials' and the
        device-control databases only where the service is entitled to them, as IAM has it in the cloud (unset
        elsewhere, whatever the caller's environment holds)."""
        return {**self.env(), "IOT_SERVICE": name,
                "IOT_CREDENTIALS_DATABASE": CREDENTIALS_DATABASE if reads_credentials(name) else "",
                "IOT_CONTROL_DATABASE": CONTROL_DATABASE if reaches_control(name) else ""}

    def settings(self) -> Settings:
        """Settings as a service of this stack sees them."""
        return Settings.from_env({**os.environ, **self.env()})

    def check_ports_free(self, names: list[str]) -> None:
        """Fail with a clear message when a port the stack needs is taken."""
        busy = [f"{name} ({getattr(self.ports, name)})" for name in names
                if not port_is_free(getattr(self.ports, name))]
        if busy:
            raise StartupError("ports already in use: " + ", ".join(busy) +
                               ". Another `make dev` or program holds them; stop it first.")

    def start_backends(self, *, elasticsearch: bool = True) -> None:
        """Start both Google emulators (in parallel) and the Elasticsearch stand-in; wait until they answer."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        gcloud.check_prerequisites()
        jobs = {
            "pubsub": lambda: gcloud.start_pubsub(self.ports.pubsub, self.project, self.log_dir),
            "firestore": lambda: gcloud.start_firestore(self.ports.firestore, self.project, self.log_dir),
        }
        if elasticsearch and self.elasticsearch_url is None:
            jobs["elasticsearch"] = self._start_elasticsearch
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = {name: pool.submit(job) for name, job in jobs.items()}
            errors = []
            for name, future in futures.items():
                try:
                    self._backends.append(future.result())
                except Exception as exc:
                    errors.append(f"{name}: {exc}")
        if errors:
            self.stop()
            raise StartupError("\n".join(errors))
        os.environ.update(self.client_env())

    def backend(self, name: str):
        """A started backend by name (``pubsub``, ``firestore``; fault tests signal its process)."""
        return next(backend for backend in self._backends if getattr(backend, "name", None) == name)

    def client_env(self) -> dict[str, str]:
        """Variables that point Google and Elasticsearch clients of this process at the stack."""
        return {key: self.env()[key] for key in ("GOOGLE_CLOUD_PROJECT", "PUBSUB_EMULATOR_HOST",
                                                  "FIRESTORE_EMULATOR_HOST", "ELASTICSEARCH_URL")}

    def _start_elasticsearch(self):
        from emulators.elastic.launcher import start

        return start(self.ports.elasticsearch, str(self.data_dir / "elasticsearch.journal"))

    def bootstrap(self) -> dict:
        """Create the Pub/Sub topology, the admin account and the telemetry index template (all idempotent)."""
        from emulators.pubsub_bootstrap import ensure_topology

        settings = self.settings()
        return {"pubsub": ensure_topology(self.project, settings.push_endpoint, settings.topology,
                                          rules_endpoint=settings.rules_push_endpoint,
                                          extensions=extension_endpoints(settings.extension_push_endpoints)),
                "admin": self.bootstrap_admin(settings),
                "elasticsearch": self.bootstrap_elasticsearch()}

    def bootstrap_elasticsearch(self) -> bool:
        """Install the telemetry index template (the pipeline also does at start); True when it was written."""
        from elasticsearch import Elasticsearch

        from infra.adapters.elasticsearch import install_template

        client = Elasticsearch(self.es_url, api_key=self.settings().elasticsearch_api_key, request_timeout=30)
        try:
            return install_template(client, self.settings().elasticsearch_replicas)
        finally:
            client.close()

    def bootstrap_admin(self, settings: Settings | None = None) -> str:
        """Create the admin account unless it exists (the password is generated in development); return its name.

        The admin line (with a generated password) is added to ``notices`` for the person running the stack.
        """

        from infra.adapters.passwords import SCRYPT
        from infra.usecases.accounts import ensure_admin
        from infra.wiring.admin import admin_account

        admin = admin_account(settings or self.settings())
        with self.repository() as repository:
            ensure_admin(repository, SCRYPT, admin)
        if admin.notice() not in self.notices:
            self.notices.append(admin.notice())
        return admin.username

    @contextlib.contextmanager
    def repository(self):
        """A Firestore repository on the emulator with its three databases, as api-users has them (bootstrap, tests)."""
        from google.cloud import firestore

        from infra.adapters.firestore import FirestoreRepository

        clients = [firestore.Client(project=self.project, database=database)
                   for database in (None, CREDENTIALS_DATABASE, CONTROL_DATABASE)]
        try:
            yield FirestoreRepository(*clients)
        finally:
            for client in clients:
                client.close()

    def start_service(self, name: str, *, key: str | None = None,
                      extra_env: dict[str, str] | None = None) -> ManagedProcess:
        """Start ``python -m run <name>`` and wait for its /healthz.

        ``key`` names a second instance of the same service (with its own port and ``extra_env``).
        """
        process = self.spawn_service(name, key=key, extra_env=extra_env)
        self.wait_healthy(key or name)
        return process

    def spawn_service(self, name: str, *, key: str | None = None,
                      extra_env: dict[str, str] | None = None) -> ManagedProcess:
        """Start ``python -m run <name>`` without waiting; it is known as ``key`` (default: ``name``)."""
        key = key or name
        running = self.processes.get(key)
        if running is not None and running.alive():
            raise RuntimeError(f"{key} is already running (pid {running.pid}); stop it or start it under another key")
        env = {**os.environ, **self.service_env(name), "PORT": str(self.ports.for_process(key)), **(extra_env or {})}
        process = ManagedProcess(key, [sys.executable, "-m", "run", name], env=env, cwd=ROOT,
                                 log_path=self.log_dir / f"{key}.log").start()
        self.processes[key] = process
        return process

    def url(self, key: str, path: str = "/") -> str:
        """HTTP URL of a started service (by its key)."""
        return f"http://127.0.0.1:{self.ports.for_process(key)}{path}"

    def wait_healthy(self, key: str, timeout: float = SERVICE_START_TIMEOUT) -> None:
        """Wait until the service answers 200 on /healthz."""
        url = self.url(key, "/healthz")
        wait_until(lambda: requests.get(url, timeout=1).status_code == 200, timeout=timeout,
                   what=f"{key} on {url}", process=self.processes[key])

    def start_services(self, names: tuple[str, ...] = PROCESSES) -> None:
        """Start every service at once, then wait for each to be healthy."""
        for name in names:
            self.spawn_service(name)
        for name in names:
            self.wait_healthy(name)

    def tick_rules(self, key: str = "rules") -> dict | None:
        """Send the rules service its clock tick (Cloud Scheduler's job in the cloud); its reply, None on failure."""
        try:
            response = requests.post(self.url(key, "/tick"), timeout=30)
            return response.json() if response.status_code == 200 else None
        except requests.RequestException:
            logger.warning("the rules tick failed", exc_info=True)
            return None

    def stop_service(self, name: str) -> int | None:
        """Stop one service process (SIGTERM, then SIGKILL); return its exit code."""
        process = self.processes.pop(name, None)
        return process.stop() if process else None

    def stop(self) -> None:
        """Stop every service, then the backends, each group in parallel; safe to call twice."""
        names = list(self.processes)
        with ThreadPoolExecutor(max(1, len(names))) as pool:
            list(pool.map(self.stop_service, names))
        backends, self._backends = self._backends, []
        with ThreadPoolExecutor(max(1, len(backends))) as pool:
            list(pool.map(lambda backend: backend.stop(), backends))

    def urls(self) -> list[tuple[str, str]]:
        """(what, where) rows for the table ``make dev`` prints."""
        p = self.ports
        return [
            ("console + API", f"http://127.0.0.1:{p.api}/"),
            ("gateway-http", f"http://127.0.0.1:{p.gateway_http}/"),
            ("gateway-ws", f"ws://127.0.0.1:{p.gateway_ws}/"),
            ("gateway-mqtt", f"mqtt://127.0.0.1:{p.mqtt_tcp}  ws://127.0.0.1:{p.gateway_mqtt}/mqtt"),
            ("pipeline", f"http://127.0.0.1:{p.pipeline}/pubsub/push"),
            ("rules", f"http://127.0.0.1:{p.rules}/pubsub/push  /tick"),
            ("pubsub emulator", f"127.0.0.1:{p.pubsub}"),
            ("firestore emulator", f"127.0.0.1:{p.firestore}"),
            ("elasticsearch", self.es_url),
            ("logs", str(self.log_dir)),
        ]
