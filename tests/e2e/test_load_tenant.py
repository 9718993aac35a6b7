"""A load-test tenant (loadtests/tenant.py) is seeded and removed through the public API only, and the paper's
locustfile runs against what the seed names, as the README tells to do against a deployment; here the local stack's
real processes stand in for the deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from emulators.api_client import ApiClient, ApiError
from infra.config import ROOT
from loadtests import tenant
from tests.support.accounts import signed_in_admin
from tests.support.services import running
from tests.support.tools import missing

KEYS = {"api": "tenant-api", "gateway-http": "tenant-gateway-http"}


@pytest.fixture(scope="module")
def urls(stack):
    """The composed API and gateway-http, by service name."""
    with running(stack, KEYS):
        yield {"api": stack.url(KEYS["api"], "").rstrip("/"), "gateway": stack.url(KEYS["gateway-http"])}


@pytest.fixture
def admin(stack, urls, firestore_db, monkeypatch):
    """The development admin, present again after the per-test Firestore wipe; the commands find its password in
    IOT_ADMIN_PASSWORD, as an operator's shell has a deployment's."""
    client = signed_in_admin(stack.settings(), firestore_db, urls["api"])
    monkeypatch.setenv("IOT_ADMIN_USERNAME", client.username)
    monkeypatch.setenv("IOT_ADMIN_PASSWORD", client.password)
    return client


def _seed(urls: dict, out, users: int, devices: int) -> dict:
    code = tenant.main(["seed", "--api", urls["api"], "--gateway", urls["gateway"], "--users", str(users),
                        "--devices", str(devices), "--out", str(out)])
    assert code == 0
    return json.loads(out.read_text())


def test_seed_creates_a_tenant_a_load_test_can_act_as_and_remove_deletes_all_of_it(urls, admin, tmp_path):
    seed_file = tmp_path / "seed.json"
    data = _seed(urls, seed_file, users=2, devices=2)
    assert tenant.TENANT.fullmatch(data["tenant"])
    assert (data["api_url"], data["gateway_url"]) == (urls["api"], urls["gateway"])
    assert seed_file.stat().st_mode & 0o077 == 0  # passwords and keys: the owner's eyes only
    assert len(data["accounts"]) == 2
    for account in data["accounts"]:
        assert account["username"].startswith(f"loadtest-{data['tenant']}-")
        owner = ApiClient(urls["api"], account["token"])
        assert sorted(d["id"] for d in owner.list_devices()) == sorted(d["id"] for d in account["devices"])
        sensors = {d["sensor_id"] for d in account["devices"]}
        assert {s["id"] for s in owner.granted_sensors(account["consumer_id"])} == sensors
        for device in account["devices"]:
            reply = requests.post(urls["gateway"], headers={"Authorization": f"Bearer {device['token']}"},
                                  json={"sensor_id": device["sensor_id"], "value": 21.5}, timeout=30)
            assert reply.status_code == 200, reply.text
        assert ApiClient(urls["api"]).signin(account["username"], account["password"])["token"]

    assert tenant.main(["remove", str(seed_file)]) == 0
    left = [user for user in admin.list_users() if user["username"].startswith("loadtest-")]
    assert left == []
    for account in data["accounts"]:
        with pytest.raises(ApiError) as refused:
            ApiClient(urls["api"]).signin(account["username"], account["password"])
        assert refused.value.status == 401
        # Its devices and consumer are gone with it (their keys stop working once the gateways' profile cache, at
        # most IOT_REVOCATION_CACHE_TTL, forgets them).
        assert admin.list_devices(owner_id=account["id"]) == []
        assert admin.list_consumers(owner_id=account["id"]) == []


def test_remove_by_tenant_id_takes_only_that_tenants_accounts(urls, admin, tmp_path):
    ours = _seed(urls, tmp_path / "ours.json", users=1, devices=1)
    theirs = _seed(urls, tmp_path / "theirs.json", users=1, devices=1)
    bystander = admin.create_user("loadtest-bystander", "a long enough password")
    assert tenant.main(["remove", "--api", urls["api"], "--tenant", ours["tenant"]]) == 0
    usernames = {user["username"] for user in admin.list_users()}
    assert ours["accounts"][0]["username"] not in usernames
    assert {theirs["accounts"][0]["username"], bystander["username"]} <= usernames
    with pytest.raises(SystemExit):
        tenant.main(["remove", "--api", urls["api"], "--tenant", "loadtest"])  # not a tenant id: refused


def test_the_paper_locustfile_runs_headless_against_the_seed(urls, admin, tmp_path):
    if subprocess.run([sys.executable, "-c", "import locust"], capture_output=True).returncode:
        missing("locust is not installed (pyproject.toml load extra; make test installs it)")
    seed_file = tmp_path / "seed.json"
    _seed(urls, seed_file, users=2, devices=1)
    # The README's headless command, its 30 paper minutes compressed into about two seconds.
    env = {**os.environ, "PAPER_SEED": str(seed_file), "PAPER_SHAPE": "spike", "BENCH_COMPRESSION": "900"}
    result = subprocess.run([sys.executable, "-m", "locust", "-f", "loadtests/locustfile_paper.py", "--headless",
                             "--only-summary", "--json", "--skip-log"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    stats = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert stats["HTTP-Gateway"]["num_requests"] > 0 and stats["Devices-Get"]["num_requests"] > 0, stats.keys()
    # Devices and the API answered as the seed's accounts: nothing the seed made is refused.
    for name in ("HTTP-Gateway", "Devices-Get", "Sensors-Get", "Users-Get"):
        assert stats[name]["num_failures"] == 0, (name, result.stderr[-2000:])
    assert tenant.main(["remove", str(seed_file)]) == 0
