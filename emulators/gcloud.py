"""Google's own Pub/Sub and Firestore emulators, started through the gcloud CLI on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import requests

from emulators.process import ManagedProcess, StartupError, wait_until

INSTALL_HINT = (
    "Install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install) and its emulator components:\n"
    "  gcloud components install beta pubsub-emulator cloud-firestore-emulator\n"
    "or, where gcloud comes from Debian/Ubuntu packages:\n"
    "  apt-get install google-cloud-cli-pubsub-emulator google-cloud-cli-firestore-emulator\n"
    "The emulators also need Java 17 or newer on PATH."
)

# Keep gcloud from prompting or phoning home: the stack must start unattended and offline.
_GCLOUD_ENV = {
    "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
}

START_TIMEOUT = 60.0


@dataclass
class Emulator:
    """A running emulator: its process, address and the environment variable clients read."""

    name: str
    host: str
    port: int
    env_var: str
    process: ManagedProcess

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop the gcloud wrapper and the JVM it spawned (one process group)."""
        self.process.stop()


def check_prerequisites() -> None:
    """Fail with installation instructions when gcloud or Java is missing."""
    missing = [tool for tool in ("gcloud", "java") if shutil.which(tool) is None]
    if missing:
        raise StartupError(f"{' and '.join(missing)} not found on PATH.\n{INSTALL_HINT}")


def start_pubsub(port: int, project: str, log_dir: Path, host: str = "127.0.0.1") -> Emulator:
    """Start ``gcloud beta emulators pubsub start`` and wait for a first RPC (list topics)."""
    argv = ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port={host}:{port}", f"--project={project}"]
    emulator = _start("pubsub", argv, host, port, "PUBSUB_EMULATOR_HOST", log_dir)

    def answers() -> bool:
        from google.cloud import pubsub_v1

        with _client_env(emulator):
            client = pubsub_v1.PublisherClient()
        list(client.list_topics(project=f"projects/{project}", timeout=2, retry=None))
        return True

    _wait(emulator, answers)
    return emulator


def start_firestore(port: int, project: str, log_dir: Path, host: str = "127.0.0.1") -> Emulator:
    """Start ``gcloud emulators firestore start`` and wait for a first RPC (read a document)."""
    argv = ["gcloud", "emulators", "firestore", "start", f"--host-port={host}:{port}"]
    emulator = _start("firestore", argv, host, port, "FIRESTORE_EMULATOR_HOST", log_dir)

    def answers() -> bool:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore

        with _client_env(emulator):
            client = firestore.Client(project=project, credentials=AnonymousCredentials())
        client.collection("_probe").document("probe").get(timeout=2, retry=None)
        client.close()
        return True

    _wait(emulator, answers)
    return emulator


def wipe_firestore(address: str, project: str, databases: tuple[str, ...] = ("(default)",)) -> None:
    """Delete every document in the emulator's ``databases`` (between tests)."""
    for database in databases:
        url = f"http://{address}/emulator/v1/projects/{project}/databases/{database}/documents"
        requests.delete(url, timeout=10).raise_for_status()


@contextlib.contextmanager
def _client_env(emulator: Emulator):
    """Point Google clients built inside the block at ``emulator`` (they read the variable at construction)."""
    previous = os.environ.get(emulator.env_var)
    os.environ[emulator.env_var] = emulator.address
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(emulator.env_var, None)
        else:
            os.environ[emulator.env_var] = previous


def _start(name: str, argv: list[str], host: str, port: int, env_var: str, log_dir: Path) -> Emulator:
    check_prerequisites()
    env = {**os.environ, **_GCLOUD_ENV}
    process = ManagedProcess(name, argv, env=env, log_path=log_dir / f"{name}-emulator.log").start()
    return Emulator(name, host, port, env_var, process)


def _wait(emulator: Emulator, answers) -> None:
    try:
        wait_until(answers, timeout=START_TIMEOUT, what=f"{emulator.name} emulator on {emulator.address}",
                   process=emulator.process, interval=0.25)
    except StartupError as exc:
        emulator.stop()
        log = emulator.process.log_tail(40).lower()
        hint = f"\n{INSTALL_HINT}" if ("component" in log or "not installed" in log or "java" in log) else ""
        raise StartupError(f"{exc}{hint}") from None
