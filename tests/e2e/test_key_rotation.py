"""The README's signing-key rotation, walked with two overlapping keys through real processes.

Each step deploys revisions the way Cloud Run would: a new process started with the secret versions it mounts
(``IOT_SIGNING_KEY``, ``IOT_JWKS``), next to the previous revision's process, which keeps the versions it started
with until it is stopped. Issuers are the composed API (api-users signs users in, api-devices hands out device
keys); gateway-http verifies device tokens. At every step each live revision must accept the tokens every live
issuer hands out, and after the old key is retired its tokens must be refused (API 401, gateway 403).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.api_client import ApiClient
from emulators.process import wait_until
from emulators.stack import LocalStack
from infra.adapters.keys import SigningKey, parse_jwks
from infra.config import ROOT
from tests.support.accounts import signed_in_admin

pytestmark = pytest.mark.e2e

GATEWAY = "gateway-http"
API = "api"  # the local composition of the API services: a revision of every issuer at once


@dataclass
class SecretVersions:
    """What Secret Manager holds: the versions of ``iot-signing-key`` and ``iot-jwks``, numbered from 1."""

    folder: Path
    signing_key: dict[int, str]
    jwks: dict[int, str]

    def add_key(self) -> SigningKey:
        """Generate a private key and add it as the next version of the signing key (runbook step 1)."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        self.signing_key[len(self.signing_key) + 1] = pem
        (self.folder / "key.pem").write_text(pem)  # as the README's openssl command leaves it
        return SigningKey.from_pem(pem)

    def edit_jwks(self, *command: str) -> None:
        """Run ``python -m infra.ops.jwks`` on the latest JWKS version (if any); store its output as the next."""
        current = self.jwks.get(len(self.jwks), "")
        result = subprocess.run([sys.executable, "-m", "infra.ops.jwks", *command], input=current, cwd=ROOT,
                                capture_output=True, text=True, timeout=60, check=True)
        self.jwks[len(self.jwks) + 1] = result.stdout

    def mount(self, jwks: int, signing_key: int | None = None) -> dict[str, str]:
        """The environment a revision mounting these versions gets (verifiers mount no signing key)."""
        env = {"IOT_JWKS": self.jwks[jwks]}
        if signing_key is not None:
            env["IOT_SIGNING_KEY"] = self.signing_key[signing_key]
        return env


@dataclass(frozen=True)
class Issued:
    """The tokens one issuer revision handed out: a signed-in user's and a device key."""

    issuer: str
    kid: str
    user: str
    device: str


class Fleet:
    """The live revisions, started and stopped by name, and what each makes of a token."""

    def __init__(self, stack: LocalStack, versions: SecretVersions):
        self.stack = stack
        self.versions = versions
        self.live: dict[str, str] = {}  # revision name -> service

    def deploy(self, **revisions: tuple[str, dict[str, str]]) -> None:
        """Start revisions (name=(service, env)) at once and wait until each serves."""
        for name, (service, env) in revisions.items():
            self.stack.spawn_service(service, key=name, extra_env=env)
        for name, (service, _) in revisions.items():
            self.stack.wait_healthy(name)
            self.live[name] = service

    def retire(self, *names: str) -> None:
        """Stop revisions that no longer get traffic."""
        for name in names:
            assert self.stack.stop_service(name) == 0, name
            del self.live[name]

    def issue(self, name: str, admin: ApiClient, device_id: str) -> Issued:
        """Sign in and fetch a device key on revision ``name``."""
        client = ApiClient(self.stack.url(name))
        client.signin(admin.username, admin.password)
        device = client.device_key(device_id)["token"]
        assert jwt.get_unverified_header(device)["kid"] == jwt.get_unverified_header(client.token)["kid"]
        return Issued(name, jwt.get_unverified_header(device)["kid"], client.token, device)

    def status(self, name: str, issued: Issued, sensor_id: str) -> int:
        """What revision ``name`` answers the tokens of ``issued``: the API a user call, a gateway a reading."""
        if self.live[name] == API:
            headers = {"Authorization": f"Bearer {issued.user}"}
            return requests.get(self.stack.url(name, "/api/users/self"), headers=headers, timeout=10).status_code
        headers = {"Authorization": f"Bearer {issued.device}"}
        reading = {"sensor_id": sensor_id, "value": 21.5}
        return requests.post(self.stack.url(name), json=reading, headers=headers, timeout=10).status_code

    def published(self, name: str) -> list[str]:
        """The kids revision ``name`` publishes at /.well-known/jwks.json."""
        response = requests.get(self.stack.url(name, "/.well-known/jwks.json"), timeout=10)
        return list(parse_jwks(response.text))

    def check(self, tokens: list[Issued], sensor_id: str, refused: set[tuple[str, str]] = frozenset()) -> None:
        """Every live revision accepts every token, except the (issuer, revision) pairs of ``refused``."""
        seen = {(issued.issuer, name): self.status(name, issued, sensor_id) for issued in tokens for name in self.live}
        refusal = {API: 401, GATEWAY: 403}
        expected = {(issuer, name): refusal[self.live[name]] if (issuer, name) in refused else 200
                    for issuer, name in seen}
        assert seen == expected


@pytest.fixture
def versions(tmp_path) -> SecretVersions:
    return SecretVersions(tmp_path, {}, {})


@pytest.fixture
def fleet(stack, versions):
    started = Fleet(stack, versions)
    yield started
    for name in list(started.live):
        stack.stop_service(name)


def test_the_rotation_runbook_keeps_every_live_revision_accepting_the_others(stack, firestore_db, versions, fleet):
    # Before: one key, published alone; every service on signing-key version 1 and JWKS version 1.
    old = versions.add_key()
    versions.edit_jwks("add", str(versions.folder / "key.pem"))
    fleet.deploy(api_1=(API, versions.mount(jwks=1, signing_key=1)), gw_1=(GATEWAY, versions.mount(jwks=1)))
    admin = signed_in_admin(stack.settings(), firestore_db, stack.url("api_1"))
    device = admin.create_device("rotated")
    sensor = admin.create_sensor(device["id"], "temperature", {"type": "double"})["id"]
    tokens = [fleet.issue("api_1", admin, device["id"])]
    assert tokens[0].kid == old.kid
    fleet.check(tokens, sensor)

    # 1. Add the new key as next: a signing-key version and a JWKS version holding both; nothing is deployed.
    new = versions.add_key()
    versions.edit_jwks("add", str(versions.folder / "key.pem"), "--to", "-")
    assert list(parse_jwks(versions.jwks[2])) == [old.kid, new.kid]
    # Out of order, an issuer whose key set lacks its key does not start, and the running revisions keep serving.
    early = stack.spawn_service(API, key="api_early", extra_env=versions.mount(jwks=1, signing_key=2))
    wait_until(lambda: not early.alive(), timeout=30, what="the out-of-order issuer to stop")
    assert f"IOT_JWKS lacks the signing key (kid {new.kid})" in early.log_path.read_text()
    stack.stop_service("api_early")

    # 2. Roll the verifiers: the new revisions mount JWKS version 2, beside the old ones; all sign with the old key.
    fleet.deploy(api_2=(API, versions.mount(jwks=2, signing_key=1)), gw_2=(GATEWAY, versions.mount(jwks=2)))
    tokens.append(fleet.issue("api_2", admin, device["id"]))
    fleet.check(tokens, sensor)
    assert fleet.published("api_2") == [old.kid, new.kid]
    fleet.retire("api_1", "gw_1")

    # 3. Make it current on the issuers: the new revision signs with the new key while the old one still signs
    # with the old; everyone accepts both.
    fleet.deploy(api_3=(API, versions.mount(jwks=2, signing_key=2)))
    tokens.append(fleet.issue("api_3", admin, device["id"]))
    assert [issued.kid for issued in tokens] == [old.kid, old.kid, new.kid]
    fleet.check(tokens, sensor)
    fleet.retire("api_2")

    # 4. Retire the old key: JWKS version 3 holds the new key only. Revisions that mount it refuse the old key's
    # tokens; the previous revisions still accept them until they are stopped.
    versions.edit_jwks("retire", old.kid, "--from", "-")
    fleet.deploy(api_4=(API, versions.mount(jwks=3, signing_key=2)), gw_3=(GATEWAY, versions.mount(jwks=3)))
    tokens.append(fleet.issue("api_4", admin, device["id"]))
    refused_by_new = {(issuer, name) for issuer in ("api_1", "api_2") for name in ("api_4", "gw_3")}
    fleet.check(tokens, sensor, refused=refused_by_new)
    assert fleet.published("api_4") == [new.kid]
    fleet.retire("api_3", "gw_2")
    fleet.check(tokens, sensor, refused=refused_by_new)
