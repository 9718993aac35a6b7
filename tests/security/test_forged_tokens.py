"""Forged, stale and misused tokens against the data API, the consume proxy, the API's user routes and every gateway.

Each kind of bad token is presented where it could do harm, and each is refused with the documented answer: 401
``invalid_token`` on the API (the proxy in Elasticsearch's error shape); 403 with ``invalid_token``,
``expired_token``, ``revoked_token`` or ``wrong_audience`` on gateway-http and on gateway-ws's upgrade; CONNACK
"bad user name or password" (v5 0x86, 3.1.1 4), or "not authorized" for a revoked key (0x87, 5), on gateway-mqtt
over TCP and WebSocket. A genuine token is presented the same way first, so a refusal is the token's doing.

Every management route against forged (``alg: none``, another key under the real kid), expired, device and
consumer tokens is tests/api/test_authorization_matrix.py's; here the user routes get only what it lacks.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import orjson
import pytest
import requests
import websocket

from infra.domain.claims import CONSUMER, DEVICE, USER
from run.gateway_mqtt.codec import MQTT_3_1_1, MQTT_5, ConnAck, Connect
from tests.support import forged_tokens as forge
from tests.support.mqtt_peer import RawPeer, RawWebSocketPeer

pytestmark = pytest.mark.e2e

GENUINE = "genuine"


@dataclass
class Holder:
    """The subject, key version and genuine token of a device or consumer of tenant A."""

    id: str
    version: int
    token: str


@dataclass
class Keys:
    """Tenant A's current and revoked devices and consumers, and B's for tampering."""

    device: Holder
    consumer: Holder
    rotated_device: str  # tokens whose key was rotated since
    deleted_device: str  # tokens of a device deleted since
    rotated_consumer: str
    deleted_consumer: str


def _holder(token: str) -> Holder:
    body = orjson.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return Holder(body["sub"], body["ver"], token)


@pytest.fixture(scope="module")
def keys(world) -> Keys:
    """Tenant A's tokens; the revoked ones are revoked before any gateway or API process has seen them."""
    a = world.a.client
    rotated_device, deleted_device = a.create_device("rotated")["id"], a.create_device("deleted")["id"]
    rotated_consumer, deleted_consumer = a.create_consumer("rotated")["id"], a.create_consumer("deleted")["id"]
    stale = {name: a.device_key(device)["token"] for name, device in
             (("rotated_device", rotated_device), ("deleted_device", deleted_device))}
    for name, consumer in (("rotated_consumer", rotated_consumer), ("deleted_consumer", deleted_consumer)):
        a.grant(consumer, world.a.sensors["temp"])  # but for the revocation, it could read the sensor
        stale[name] = a.consumer_key(consumer)["token"]
    a.rotate_device_key(rotated_device)
    a.delete_device(deleted_device)
    a.rotate_consumer_key(rotated_consumer)
    a.delete_consumer(deleted_consumer)
    return Keys(_holder(world.a.device_token), _holder(world.a.consumer_token), **stale)


def _deep_header() -> str:
    """A token whose header opens 5,000 nested arrays (a recursive parser would overflow; short enough for a
    header line)."""
    header = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    return f"{header}.e30.c2ln"


def make_token(kind: str, audience: str, holder_id: str, version: int | None, *, key, issuer: str,
               genuine: str, other_id: str) -> str:
    """A token of ``kind`` that claims to be ``holder_id`` (of ``audience``); ``genuine`` is its real token."""
    now = int(time.time())
    body = forge.claims(issuer, holder_id, audience, version=version)
    without_version = {name: value for name, value in body.items() if name != "ver"}
    without_expiry = {name: value for name, value in body.items() if name != "exp"}
    makers = {
        GENUINE: lambda: genuine,
        "alg_none": lambda: forge.unsigned(key.kid, body),
        "hs256_public_key": lambda: forge.hs256_with_public_key(key, body),
        "foreign_key": lambda: forge.signed_by_stranger(key.kid, body),
        "tampered_subject": lambda: forge.tampered(genuine, sub=other_id),
        "wrong_issuer": lambda: forge.resigned(key, {**body, "iss": "another-platform"}),
        "unknown_audience": lambda: forge.resigned(key, {**body, "aud": "admin"}),
        "audience_list": lambda: forge.resigned(key, {**body, "aud": [audience, USER, DEVICE, CONSUMER]}),
        "expired": lambda: forge.resigned(key, {**body, "iat": now - 7200, "exp": now - 3600}),
        "no_key_version": lambda: forge.resigned(key, without_version),
        "no_expiry": lambda: forge.resigned(key, without_expiry),
        "not_a_jwt": lambda: "not-a-jwt",
        "deep_header": _deep_header,
    }
    return makers[kind]()


# ---- gateways -------------------------------------------------------------------------------------------------

INVALID = ("invalid_token", 0x86, 4)  # gateway-http/ws code, MQTT 5 CONNACK, MQTT 3.1.1 CONNACK
REVOKED = ("revoked_token", 0x87, 5)
WRONG_AUDIENCE = ("wrong_audience", 0x86, 4)
DEVICE_TOKENS = {
    GENUINE: None, "alg_none": INVALID, "hs256_public_key": INVALID, "foreign_key": INVALID,
    "tampered_subject": INVALID, "wrong_issuer": INVALID, "unknown_audience": INVALID, "audience_list": INVALID,
    "no_key_version": INVALID, "not_a_jwt": INVALID, "deep_header": INVALID,
    "expired": ("expired_token", 0x86, 4), "rotated": REVOKED, "deleted": REVOKED,
    "user_token": WRONG_AUDIENCE, "consumer_token": WRONG_AUDIENCE,
}
GATEWAYS = ("http", "ws", "mqtt-3.1.1", "mqtt-5", "mqtt-5-websocket")


@pytest.fixture(scope="module")
def device_token(world, keys, signing_key, stack):
    def make(kind: str) -> str:
        stale = {"rotated": keys.rotated_device, "deleted": keys.deleted_device, "user_token": world.a.client.token,
                 "consumer_token": world.a.consumer_token}
        if kind in stale:
            return stale[kind]
        return make_token(kind, DEVICE, keys.device.id, keys.device.version, key=signing_key,
                          issuer=stack.settings().token_issuer, genuine=keys.device.token, other_id=world.b.device)

    return make


def _http(services, world, token: str):
    response = requests.post(services.http, json={"sensor_id": world.a.sensors["temp"], "value": 1},
                             headers={"Authorization": f"Bearer {token}"}, timeout=15)
    if response.status_code == 200:
        return "accepted", response.json()["accepted"]
    return response.status_code, response.json()["error"]["code"]


def _ws(services, world, token: str):
    try:
        ws = websocket.create_connection(services.ws, timeout=15, header=[f"Authorization: Bearer {token}"])
    except websocket.WebSocketBadStatusException as refused:
        return refused.status_code, orjson.loads(refused.resp_body)["error"]["code"]
    try:
        ws.send(orjson.dumps({"sensor_id": world.a.sensors["temp"], "value": 1}).decode())
        return "accepted", orjson.loads(ws.recv())["accepted"]
    finally:
        ws.close()


def _connack(peer_class, port: int, version: int, token: str) -> int:
    peer = peer_class(port, version)
    try:
        peer.send(Connect(f"forged-{time.time_ns()}", version, username="JWT", password=token.encode()))
        answer = peer.receive()
        assert isinstance(answer, ConnAck), answer
        return answer.reason_code
    finally:
        peer.close()


def present(gateway: str, services, world, token: str):
    """What ``gateway`` answers a device presenting ``token``."""
    if gateway == "http":
        return _http(services, world, token)
    if gateway == "ws":
        return _ws(services, world, token)
    if gateway == "mqtt-5-websocket":
        return _connack(RawWebSocketPeer, services.mqtt_ws_port, MQTT_5, token)
    version = MQTT_5 if gateway == "mqtt-5" else MQTT_3_1_1
    return _connack(RawPeer, services.mqtt_tcp_port, version, token)


@pytest.mark.parametrize("gateway", GATEWAYS)
@pytest.mark.parametrize("kind", DEVICE_TOKENS)
def test_gateways_refuse_every_bad_device_token(services, world, device_token, gateway, kind):
    answer = present(gateway, services, world, device_token(kind))
    expected = DEVICE_TOKENS[kind]
    if expected is None:
        assert answer == (0 if gateway.startswith("mqtt") else ("accepted", 1))
    elif gateway.startswith("mqtt"):
        assert answer == (expected[2] if gateway == "mqtt-3.1.1" else expected[1])
    else:
        assert answer == (403, expected[0])


# ---- the data API and the consume proxy ----------------------------------------------------------------------

CONSUMER_TOKENS = (GENUINE, "alg_none", "hs256_public_key", "foreign_key", "tampered_subject", "wrong_issuer",
                   "unknown_audience", "audience_list", "no_key_version", "expired", "not_a_jwt", "deep_header",
                   "rotated", "deleted", "device_token", "user_of_another_tenant")


@pytest.fixture(scope="module")
def consumer_token(world, keys, signing_key, stack):
    def make(kind: str) -> str:
        stale = {"rotated": keys.rotated_consumer, "deleted": keys.deleted_consumer,
                 "device_token": world.a.device_token, "user_of_another_tenant": world.b.client.token}
        if kind in stale:
            return stale[kind]
        return make_token(kind, CONSUMER, keys.consumer.id, keys.consumer.version, key=signing_key,
                          issuer=stack.settings().token_issuer, genuine=keys.consumer.token,
                          other_id=world.b.consumer)

    return make


def _read(services, world, path: str, token: str) -> requests.Response:
    sensor = world.a.sensors["temp"]
    method = "POST" if path == "_count" else "GET"
    url = f"{services.api}/api/consumers/consume/{sensor}/_count" if path == "_count" else \
        f"{services.api}/api/sensors/{sensor}/data"
    return requests.request(method, url, headers={"Authorization": f"Bearer {token}"}, timeout=15)


@pytest.mark.parametrize("path", ["data", "_count"])
@pytest.mark.parametrize("kind", CONSUMER_TOKENS)
def test_the_read_paths_refuse_every_bad_consumer_token(services, world, consumer_token, path, kind):
    response = _read(services, world, path, consumer_token(kind))
    if kind == GENUINE:
        assert response.status_code == 200, response.text
        return
    if kind == "user_of_another_tenant":  # a good token, but the sensor is not B's: as if it did not exist
        expected = (404, "not_found" if path == "data" else "index_not_found_exception")
        error = response.json()["error"]
        assert (response.status_code, error.get("type", error["code"])) == expected
        return
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"
    if path == "data":
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    else:  # the proxy answers in Elasticsearch's shape, which its client parses
        assert response.json()["status"] == 401 and response.json()["error"]["type"] == "security_exception"


# ---- the API's user routes: what the authorization matrix does not present ----------------------------------

USER_TOKENS = (GENUINE, "hs256_public_key", "tampered_subject", "wrong_issuer", "unknown_audience",
               "audience_list", "no_expiry", "not_a_jwt", "deep_header")


@pytest.mark.parametrize("kind", USER_TOKENS)
def test_user_routes_refuse_forged_and_malformed_user_tokens(services, world, signing_key, stack, kind):
    a = world.a
    token = make_token(kind, USER, a.user_id, _holder(a.client.token).version, key=signing_key,
                       issuer=stack.settings().token_issuer, genuine=a.client.token, other_id=world.b.user_id)
    response = requests.get(f"{services.api}/api/users/self", headers={"Authorization": f"Bearer {token}"},
                            timeout=15)
    if kind == GENUINE:
        assert (response.status_code, response.json()["id"]) == (200, a.user_id)
        return
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
