"""Locally, one process routes the API groups like the cloud load balancer's URL map."""

from flask import Flask

from run.compose import PrefixDispatcher
from run.services import COMPOSED_MEMBERS, SERVICES


def _app(name):
    app = Flask(name)
    app.add_url_rule("/<path:rest>", "any", lambda rest: name)
    return app


def test_longest_prefix_wins_and_the_path_is_unchanged():
    users, consumers, data, web = (_app(n) for n in ("users", "consumers", "data", "web"))
    dispatcher = PrefixDispatcher({"/api/users": users, "/api/consumers": consumers,
                                   "/api/consumers/consume": data}, default=web)
    assert dispatcher.app_for("/api/users/signin") is users
    assert dispatcher.app_for("/api/consumers/3/sensors") is consumers
    assert dispatcher.app_for("/api/consumers/consume/7/_search") is data
    assert dispatcher.app_for("/api/consumers/consumeX") is consumers
    assert dispatcher.app_for("/api/usersX") is web
    assert dispatcher.app_for("/index.html") is web


def test_every_api_group_and_the_console_share_port_8080():
    assert {s.name for s in COMPOSED_MEMBERS} == {"api-users", "api-devices", "api-consumers", "api-data", "web"}
    assert {s.name: s.port for s in SERVICES if s not in COMPOSED_MEMBERS} == {
        "gateway-http": 8083, "gateway-ws": 8765, "gateway-mqtt": 8766, "pipeline": 8090, "rules": 8091}
