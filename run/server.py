"""Serve one service (or the local composition) under gunicorn, configured for Cloud Run."""

from __future__ import annotations

import importlib
from typing import Callable

from gunicorn.app.base import BaseApplication

from infra.config import Settings
from infra.logs import NOISY_LOGGERS
from infra.wiring import EXTENSION
from run.services import COMPOSED_NAME, SIGTERM_GRACE, Service

# gunicorn waits this long for in-flight requests after SIGTERM, leaving the rest of Cloud Run's window for the
# worker_exit hook (flushing the Pub/Sub publisher) and the arbiter's own exit before SIGKILL.
GRACEFUL_TIMEOUT = SIGTERM_GRACE - 2


def log_config(settings: Settings, service_name: str) -> dict:
    """dictConfig that makes gunicorn's own logs JSON lines in Cloud Logging's shape, like the app's."""
    formatter = {"()": "infra.logs.CloudLoggingFormatter", "project_id": settings.project_id,
                 "service": service_name}
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    quiet = {"level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": settings.log_level},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": settings.log_level, "propagate": False},
            # No per-request access log: Cloud Run logs requests itself, and logging was most of the
            # original's bill. Requests still reach the app's own logs when something goes wrong.
            "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            **{name: quiet for name in NOISY_LOGGERS},
        },
    }


def gunicorn_options(settings: Settings, name: str, port: int, threads: int) -> dict:
    """gunicorn settings: one worker per vCPU, one thread per concurrent request, no access log."""
    return {
        "bind": f"{settings.bind_host}:{port}",
        "worker_class": "gthread",
        "workers": settings.workers or 1,
        "threads": settings.threads or threads,
        # No worker timeout, as in Google's Cloud Run samples: with CPU only during requests a worker cannot
        # heartbeat between them, and the arbiter would kill it on the first request after an idle spell.
        # Cloud Run's request timeout (run/services.py) bounds every request instead.
        "timeout": 0,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        # Longer than the load balancer's idle timeout, so it never reuses a connection we just closed.
        "keepalive": 75,
        "accesslog": None,
        "errorlog": "-",
        "logconfig_dict": log_config(settings, name),
        "control_socket_disable": True,
        "proc_name": f"iot-{name}",
        "worker_exit": _close_clients,
    }


class ServiceApplication(BaseApplication):
    """A gunicorn application whose workers build the app with its factory after fork."""

    def __init__(self, factory: Callable, options: dict):
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.factory()


def factory_for(name: str, service: Service | None, settings: Settings) -> Callable:
    """A zero-argument callable building the WSGI app of ``name`` in the worker."""
    module = "run.compose" if name == COMPOSED_NAME else service.module

    def build():
        return importlib.import_module(module).create_app(settings)

    return build


def _close_clients(server, worker) -> None:
    app = getattr(worker, "wsgi", None)
    wiring = getattr(app, "extensions", {}).get(EXTENSION)  # a service's Flask app, or the composed dispatcher
    clients = getattr(app, "clients", None) or (wiring.clients if wiring is not None else None)
    if clients is not None:
        clients.close()
