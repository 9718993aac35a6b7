"""The API groups and the console in one local process on port 8080, routed like the load balancer's URL map."""

from __future__ import annotations

import importlib

from flask import Flask

from infra.wiring.clients import Clients
from infra.config import Settings
from run.services import COMPOSED_MEMBERS


class PrefixDispatcher:
    """Route each request by the longest matching path prefix, leaving the path unchanged (as the URL map)."""

    def __init__(self, routes: dict[str, Flask], default: Flask):
        self.routes = sorted(routes.items(), key=lambda item: len(item[0]), reverse=True)
        self.default = default

    def app_for(self, path: str) -> Flask:
        """The app serving ``path``."""
        for prefix, app in self.routes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return app
        return self.default

    def __call__(self, environ, start_response):
        return self.app_for(environ.get("PATH_INFO", ""))(environ, start_response)


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> PrefixDispatcher:
    """Build every member app over one shared set of clients and route between them."""
    settings = settings or Settings.from_env()
    clients = clients or Clients(settings)
    routes: dict[str, Flask] = {}
    default = None
    for service in COMPOSED_MEMBERS:
        app = importlib.import_module(service.module).create_app(settings, clients)
        for prefix in service.paths:
            if prefix == "/":
                default = app
            else:
                routes[prefix] = app
    dispatcher = PrefixDispatcher(routes, default)
    dispatcher.clients = clients
    return dispatcher
