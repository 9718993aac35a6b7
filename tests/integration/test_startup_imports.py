"""A service imports at start only what its first requests need (the cold start of issue 14): each app is built in a
fresh interpreter, as a Cloud Run instance builds it, and the SDKs it must not have loaded yet are named.

The Firestore, Pub/Sub and Elasticsearch SDKs wait for the first request that uses them (``infra.wiring``'s cached
properties, the gateways' ``Deferred`` clients); google-auth for the pipeline's first push; cryptography is loaded
only by the services that load keys at start (so a bad key stops them before they serve).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from infra.config import ROOT
from run.services import BY_NAME

pytestmark = pytest.mark.integration  # runs interpreters

SDKS = ("google.cloud.firestore", "google.cloud.pubsub_v1", "elasticsearch", "google.auth")
KEY_LOADERS = {"api-users", "api-devices", "api-consumers", "api-data", "gateway-http", "gateway-ws"}
PROBE = """
import importlib, json, sys
from infra.config import Settings
module = importlib.import_module(sys.argv[1])
module.create_app(Settings.from_env())
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("google", "elasticsearch", "cryptography"))))
"""


def _loaded_after_start(name: str, tmp_path) -> set[str]:
    env = {**os.environ, "IOT_SERVICE": name, "IOT_DATA_DIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1",
           # Addresses only: building an app must not connect anywhere (nothing listens on port 9).
           "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9", "PUBSUB_EMULATOR_HOST": "127.0.0.1:9",
           "IOT_CREDENTIALS_DATABASE": "iot-credentials" if BY_NAME[name].credentials else ""}
    result = subprocess.run([sys.executable, "-c", PROBE, BY_NAME[name].module], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("name", [name for name, service in BY_NAME.items() if service.server == "gunicorn"])
def test_a_service_starts_without_the_sdks_of_its_later_requests(name, tmp_path):
    loaded = _loaded_after_start(name, tmp_path)
    early = [sdk for sdk in SDKS if sdk in loaded or any(module.startswith(sdk + ".") for module in loaded)]
    assert early == [], f"{name} imports {early} before any request needs them"
    assert ("cryptography" in loaded) == (name in KEY_LOADERS), name
