"""The original README's curl + jq flow works unchanged against the composed API under gunicorn."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.adapters.jwt_tokens import JwtVerifier
from infra.domain.claims import DEVICE
from infra.adapters.keys import load_public_keys

SCRIPT = Path(__file__).with_name("curl_flow.sh")


@pytest.mark.e2e
def test_the_readme_curl_flow_signs_in_creates_a_device_and_sensor_and_gets_a_key(api, admin):
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    assert not missing, f"install {missing} (make test installs them)"
    env = {**os.environ, "BASE_URL": api.base_url, "ADMIN_PASSWORD": api.admin_password,
           "ADMIN_USERNAME": api.settings.admin_username}
    run = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"

    result = run.stdout.strip().splitlines()[-1].split()
    assert result[0] == "RESULT"
    device_id, sensor_id, device_token = result[1:]
    sensor = admin.get_sensor(device_id, sensor_id)
    assert sensor["mapping"] == {"type": "double"} and sensor["description"] == "boiler water"
    claims = JwtVerifier(load_public_keys(api.settings), api.settings.token_issuer).verify(device_token, DEVICE)
    assert (claims.subject, claims.version) == (device_id, 1)
