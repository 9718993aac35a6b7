"""The release smoke test (infra/ops/smoke.py), which Cloud Build runs against candidate revisions, passes against
the local stack's real processes, and fails when a piece of the path is missing."""

from __future__ import annotations

import pytest

from infra.ops import smoke
from infra.wiring.admin import admin_account
from run.services import SERVICES
from tests.support.accounts import signed_in_admin
from tests.support.services import running

KEYS = {"api": "smoke-api", "gateway-http": "smoke-gateway-http", "gateway-ws": "smoke-gateway-ws",
        "gateway-mqtt": "smoke-gateway-mqtt", "pipeline": "pipeline", "rules": "rules"}  # the push subscriptions' targets


@pytest.fixture(scope="module")
def urls(stack):
    """Every service of run/services.py, by name, at its local process (the API groups share the composed API)."""
    with running(stack, KEYS):
        yield {service.name: stack.url(KEYS.get(service.name, KEYS["api"]), "").rstrip("/") for service in SERVICES}


@pytest.fixture
def admin(stack, urls, firestore_db):
    """The development admin, present again after the per-test Firestore wipe."""
    return signed_in_admin(stack.settings(), firestore_db, urls["api-users"])


def test_the_smoke_test_passes_against_the_local_stack(stack, urls, admin, monkeypatch, capsys):
    monkeypatch.setenv("IOT_DATA_DIR", str(stack.settings().data_dir))  # where the development password is
    assert smoke.main([f"--url={name}={url}" for name, url in urls.items()]) == 0, capsys.readouterr()
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "smoke test passed"
    assert {line.split(":")[0] for line in lines if line.endswith(": healthy")} == set(urls)
    assert "api-data returned the reading" in lines
    # It cleans up after itself: the admin owns no device afterwards.
    assert admin.list_devices(owner_id=admin.call("GET", "/api/users/self")["id"]) == []


def test_the_smoke_test_fails_when_a_service_does_not_answer(stack, urls, admin):
    account = admin_account(stack.settings())
    broken = {**urls, "gateway-http": "http://127.0.0.1:9"}  # discard port: nothing listens
    with pytest.raises(smoke.SmokeError, match="gateway-http"):
        smoke.Smoke(broken, account.username, account.password, log=lambda line: None).run()


def test_the_cloud_run_template_names_every_service_but_the_push_targets():
    urls = smoke.urls_from_template("https://{tag}---{service}-123.europe-west1.run.app", "candidate")
    assert urls["api-users"] == "https://candidate---api-users-123.europe-west1.run.app"
    assert set(urls) == {service.name for service in SERVICES} - {"pipeline", "rules"}
