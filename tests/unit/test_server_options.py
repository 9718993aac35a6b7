"""gunicorn is configured for Cloud Run's CPU model and its shutdown window."""

import time
from types import SimpleNamespace

from gunicorn.arbiter import Arbiter

from infra.config import Settings
from run.gateway_mqtt.protocol import Limits
from run.server import gunicorn_options
from run.services import BY_NAME, SIGTERM_GRACE


def _options() -> dict:
    return gunicorn_options(Settings.from_env({}), "gateway-http", 8083, BY_NAME["gateway-http"].threads)


def _murdered(timeout: int, idle_seconds: float) -> list[int]:
    """The workers gunicorn's arbiter kills for ``timeout`` when the only one last heartbeat ``idle_seconds`` ago."""
    arbiter = Arbiter.__new__(Arbiter)  # only murder_workers runs: no sockets, no signals
    arbiter.timeout = timeout
    arbiter.log = SimpleNamespace(critical=lambda *args: None)
    heartbeat = time.monotonic() - idle_seconds
    worker = SimpleNamespace(aborted=False, tmp=SimpleNamespace(last_update=lambda: heartbeat))
    arbiter.WORKERS = {4242: worker}
    killed = []
    arbiter.kill_worker = lambda pid, sig: killed.append(pid)
    arbiter.murder_workers()
    return killed


def test_an_idle_worker_is_never_killed_for_a_missed_heartbeat():
    # Between requests Cloud Run gives the instance no CPU, so a worker's last heartbeat can be hours old when the
    # next request wakes it: with any worker timeout the arbiter would kill it right then, mid-request.
    options = _options()
    assert options["timeout"] == 0
    assert _murdered(options["timeout"], idle_seconds=3600) == []
    # The same idle spell under the old 120 s timeout is what killed workers in production.
    assert _murdered(120, idle_seconds=3600) == [4242]


def test_graceful_shutdown_fits_cloud_runs_sigterm_window():
    options = _options()
    # Room is left after the drain for the worker_exit hook (publisher flush) and the arbiter's exit.
    assert 0 < options["graceful_timeout"] < SIGTERM_GRACE
    assert SIGTERM_GRACE - options["graceful_timeout"] >= 2
    assert 0 < Limits().shutdown_grace < SIGTERM_GRACE  # gateway-mqtt runs no gunicorn: its own grace
