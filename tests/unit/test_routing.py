"""A variable route leaves the static routes beside it alone: their missing methods are 405s with their own Allow."""

from __future__ import annotations

import pytest

from infra.config import Settings
from run import api_data, api_users
from run.services import CREDENTIALS_DATABASE


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings.from_env({"IOT_DATA_DIR": str(tmp_path_factory.mktemp("routing")),
                              "IOT_CREDENTIALS_DATABASE": CREDENTIALS_DATABASE})


def _allow(response) -> set[str]:
    return {method.strip() for method in response.headers["Allow"].split(",")}


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/api/users/self", {"GET", "PATCH", "HEAD", "OPTIONS"}),
    ("GET", "/api/users/signin", {"POST", "OPTIONS"}),
    ("PUT", "/api/users/signin/", {"POST", "OPTIONS"}),
])
def test_users_self_and_signin_are_not_user_ids(settings, method, path, allowed):
    client = api_users.create_app(settings).test_client()
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert _allow(response) == allowed
    assert _allow(client.options(path)) == allowed


def test_ids_that_start_like_a_static_route_still_reach_the_user_routes(settings):
    app = api_users.create_app(settings)
    assert app.url_map.bind("localhost").match("/api/users/selfie", method="DELETE") == (
        "users.delete_user", {"user_id": "selfie"})
    assert _allow(app.test_client().options("/api/users/signing")) == {"GET", "PATCH", "DELETE", "HEAD", "OPTIONS"}


@pytest.mark.parametrize("endpoint", ["_search", "_count"])
def test_proxy_search_and_count_answer_405_for_other_methods(settings, endpoint):
    client = api_data.create_app(settings).test_client()
    response = client.put(f"/api/consumers/consume/s1/{endpoint}")
    assert response.status_code == 405
    assert _allow(response) == {"GET", "POST", "HEAD", "OPTIONS"}
    below = client.put(f"/api/consumers/consume/s1/{endpoint}/more")  # still the read-only refusal
    assert (below.status_code, below.json["error"]["code"]) == (403, "read_only")
