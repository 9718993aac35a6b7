"""Run one service: ``python -m run <service>`` (or ``IOT_SERVICE``); ``api`` is the local composition on 8080."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from infra.config import Settings
from infra.logs import configure_logging
from run.services import BY_NAME, COMPOSED_NAME, COMPOSED_PORT


def main(argv: list[str] | None = None) -> int:
    """Parse the service name, then serve it on ``$PORT`` (default: its local port) until SIGTERM."""
    names = [COMPOSED_NAME, *BY_NAME]
    parser = argparse.ArgumentParser(prog="python -m run", description=__doc__)
    parser.add_argument("service", nargs="?", default=os.environ.get("IOT_SERVICE"), choices=names,
                        help="service to run (default: $IOT_SERVICE)")
    args = parser.parse_args(argv)
    if not args.service:
        parser.error("name a service or set IOT_SERVICE")

    settings = Settings.from_env()
    configure_logging(settings.log_level, project_id=settings.project_id, service=args.service)
    service = BY_NAME.get(args.service)
    port = settings.port or (service.port if service else COMPOSED_PORT)

    if service is not None and service.server == "asyncio":
        return importlib.import_module(f"{service.module}.main").main(settings, port)

    from run.server import ServiceApplication, factory_for, gunicorn_options

    threads = service.threads if service else 16
    ServiceApplication(factory_for(args.service, service, settings),
                       gunicorn_options(settings, args.service, port, threads)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
