"""The framework ceiling: a trivial Flask POST endpoint served with exactly the gateway's gunicorn settings."""

from __future__ import annotations

import sys

from flask import Flask, request

from infra.config import Settings
from run.server import ServiceApplication, gunicorn_options
from run.services import BY_NAME


def create_app() -> Flask:
    """Parse the JSON body and answer ``{"ok": true}``: what any JSON endpoint costs at least."""
    app = Flask("trivial")

    @app.post("/")
    def post():
        request.get_json()
        return {"ok": True}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def main(port: int, like: str = "gateway-http") -> None:
    """Serve on ``port`` with the gunicorn options of the service ``like``."""
    settings = Settings.from_env()
    ServiceApplication(create_app, gunicorn_options(settings, "trivial", port, BY_NAME[like].threads)).run()


if __name__ == "__main__":
    main(int(sys.argv[1]), *sys.argv[2:])
