"""The smoke test of a release: every service healthy, a signed-in API call, one reading from gateway to query.

    python -m infra.ops.smoke --url-template 'https://{tag}---{service}-NUMBER.REGION.run.app' --tag candidate
    python -m infra.ops.smoke --url api-users=http://127.0.0.1:8080 --url gateway-http=http://127.0.0.1:8083 ...

Cloud Build runs it (as the Cloud Run job ``iot-smoke``, terraform/smoke.tf) against the revisions a build deployed
with no traffic and a tag, before it moves traffic to them; ``tests/e2e/test_smoke.py`` runs it against the local
stack. It signs in as the admin (``IOT_ADMIN_USERNAME``/``IOT_ADMIN_PASSWORD``; in development the generated
password), registers a device and a sensor, sends one reading through gateway-http, waits until api-data returns
it (Pub/Sub and the pipeline in between), and deletes the device again. Exit code 0 only when every check passed.

With ``--url-template`` the pipeline is not called: Cloud Run admits only Pub/Sub's push account to it, and its
startup probe already kept the revision from starting unless its ``/healthz`` answered.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import requests

from run.permissions import PUBSUB_PUSH
from run.services import SERVICES

# Services checked by HTTP when a URL template is given: not those Cloud Run admits only the push account to (the
# pipeline, covered by its startup probe, and the rules service).
TEMPLATE_SERVICES = tuple(service.name for service in SERVICES if service.permissions.invokers != PUBSUB_PUSH)
REQUEST_TIMEOUT = 10.0  # seconds per HTTP request (a cold start included)
READING_TIMEOUT = 120.0  # seconds for the reading to become queryable (Pub/Sub push, a cold pipeline)


class SmokeError(Exception):
    """A check of the smoke test failed."""


@dataclass
class Smoke:
    """One run of the smoke test against ``urls`` (service name → base URL, no trailing slash)."""

    urls: dict[str, str]
    username: str
    password: str
    reading_timeout: float = READING_TIMEOUT
    log: Callable[[str], None] = print
    session: requests.Session = field(default_factory=requests.Session)

    def run(self) -> None:
        """Run every check; raise ``SmokeError`` at the first that fails, deleting what was created."""
        self.check_health()
        token = self.sign_in()
        device_id = self._call("POST", "api-devices", "/api/devices", token, 201,
                               json={"name": f"smoke-{uuid.uuid4().hex[:8]}",
                                     "description": "release smoke test (deleted at its end)"})["id"]
        try:
            self.send_and_read(token, device_id)
        finally:
            self._call("DELETE", "api-devices", f"/api/devices/{device_id}", token, 202)
            self.log(f"deleted device {device_id}")

    def check_health(self) -> None:
        for name, base in self.urls.items():
            response = self._request(name, "GET", f"{base}/healthz")
            if response.status_code != 200:
                raise SmokeError(f"{name}: GET /healthz answered {response.status_code}")
            self.log(f"{name}: healthy")

    def sign_in(self) -> str:
        reply = self._call("POST", "api-users", "/api/users/signin", None, 200,
                           json={"username": self.username, "password": self.password})
        self.log(f"signed in as {self.username}")
        return reply["token"]

    def send_and_read(self, token: str, device_id: str) -> None:
        """Send one reading of a new sensor through gateway-http and wait for api-data to return it."""
        sensor_id = self._call("POST", "api-devices", f"/api/devices/{device_id}/sensors", token, 201,
                               json={"name": "smoke", "mapping": {"type": "double"}})["id"]
        device_token = self._call("GET", "api-devices", f"/api/devices/{device_id}/key", token, 200)["token"]
        value = round(random.uniform(0, 1000), 3)
        reply = self._call("POST", "gateway-http", "/", device_token, 200,
                           json={"sensor_id": sensor_id, "timestamp": int(time.time() * 1000), "value": value})
        if reply.get("accepted") != 1:
            raise SmokeError(f"gateway-http accepted {reply.get('accepted')} of 1 reading")
        self.log(f"gateway-http accepted a reading of sensor {sensor_id}")
        deadline = time.monotonic() + self.reading_timeout
        while True:
            points = self._call("GET", "api-data", f"/api/sensors/{sensor_id}/data", token, 200)["points"]
            if [point["value"] for point in points] == [value]:
                self.log("api-data returned the reading")
                return
            if time.monotonic() > deadline:
                raise SmokeError(f"api-data did not return the reading within {self.reading_timeout:g} s: {points}")
            time.sleep(1.0)

    def _call(self, method: str, service: str, path: str, token: str | None, expected: int, **kwargs) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self._request(service, method, self.urls[service] + path, headers=headers, **kwargs)
        if response.status_code != expected:
            raise SmokeError(f"{service}: {method} {path} answered {response.status_code}, not {expected}: "
                             f"{response.text[:300]}")
        return response.json() if response.content else {}

    def _request(self, service: str, method: str, url: str, **kwargs) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise SmokeError(f"{service}: {method} {url} failed: {exc}") from exc


def urls_from_template(template: str, tag: str) -> dict[str, str]:
    """The base URL of every service ``TEMPLATE_SERVICES`` names, from a template with ``{tag}`` and ``{service}``."""
    return {name: template.format(tag=tag, service=name).rstrip("/") for name in TEMPLATE_SERVICES}


def main(argv: list[str] | None = None) -> int:
    from infra.config import Settings
    from infra.wiring.admin import admin_account

    parser = argparse.ArgumentParser(prog="python -m infra.ops.smoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url-template", help="base URL of every service, with {tag} and {service}")
    where.add_argument("--url", action="append", metavar="SERVICE=URL", help="base URL of one service (repeat)")
    parser.add_argument("--tag", default="candidate", help="traffic tag for --url-template (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.url_template:
        urls = urls_from_template(args.url_template, args.tag)
    else:
        urls = dict(pair.split("=", 1) for pair in args.url)
        urls = {name: url.rstrip("/") for name, url in urls.items()}
    missing = {"api-users", "api-devices", "api-data", "gateway-http"} - set(urls)
    if missing:
        parser.error(f"no URL for {', '.join(sorted(missing))}")
    admin = admin_account(Settings.from_env())
    try:
        Smoke(urls, admin.username, admin.password).run()
    except SmokeError as exc:
        print(f"smoke test FAILED: {exc}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
