"""gateway-http end to end: a real gunicorn process, the Firestore and Pub/Sub emulators, a test subscription."""

import time

import jwt
import orjson
import pytest
import requests

from infra.domain.claims import DEVICE

pytestmark = pytest.mark.e2e


def post(gateways, token=None, body=None, *, header="Authorization", raw=None, content_type="application/json"):
    headers = {"Content-Type": content_type}
    if token is not None:
        headers[header] = f"Bearer {token}"
    data = raw if raw is not None else orjson.dumps(body)
    return requests.post(gateways.http, data=data, headers=headers, timeout=15)


def test_a_single_record_arrives_once_normalised(gateways, seed, tap):
    device = seed()
    response = post(gateways, device.token, {"sensor_id": device.sensors["temp"], "timestamp": 1526717967,
                                             "value": "21.5"})
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "replaced": 0}
    [message] = tap.messages(device.id, 1)
    assert message["attributes"] == {"device_id": device.id, "owner_id": device.owner_id, "gateway": "http",
                                     "schema": "telemetry/v1"}
    data = message["data"]
    assert (data["device_id"], data["owner_id"], data["gateway"]) == (device.id, device.owner_id, "http")
    assert data["records"] == [{"sensor_id": device.sensors["temp"], "type": "double",
                                "timestamp": "2018-05-19T08:19:27.000000000Z", "value": 21.5}]
    assert data["received_at"].endswith("Z")
    assert len(tap.settle(device.id, wait=1.5)) == 1  # exactly once


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", None, "text/plain",
                                          "application/vnd.iot+json"], ids=["curl's default", "none", "text", "+json"])
def test_json_sent_without_the_json_type_is_read_as_json(gateways, seed, tap, content_type):
    device = seed()
    response = post(gateways, device.token, raw=orjson.dumps({"sensor_id": device.sensors["temp"], "value": 7}),
                    content_type=content_type)
    assert response.status_code == 200, response.text
    [message] = tap.messages(device.id, 1)
    assert [record["value"] for record in message["data"]["records"]] == [7.0]


def test_an_array_of_every_type_arrives_as_one_message(gateways, seed, tap):
    device = seed()
    body = [
        {"sensor_id": device.sensors["temp"], "timestamp": 1526717967123, "value": 20},
        {"sensor_id": device.sensors["count"], "timestamp": 1526717967123456, "value": "42"},
        {"sensor_id": device.sensors["door"], "timestamp": 1526717967123456789, "value": "true"},
        {"sensor_id": device.sensors["label"], "timestamp": "2018-05-19T08:19:27.5Z", "value": "open"},
        {"sensor_id": device.sensors["temp"], "value": -3.25},
    ]
    before = time.time()
    assert post(gateways, device.token, body).json() == {"accepted": 5, "replaced": 0}
    [message] = tap.messages(device.id, 1)
    records = message["data"]["records"]
    assert [(r["type"], r["timestamp"], r["value"]) for r in records[:4]] == [
        ("double", "2018-05-19T08:19:27.123000000Z", 20.0),
        ("long", "2018-05-19T08:19:27.123456000Z", 42),
        ("boolean", "2018-05-19T08:19:27.123456789Z", True),
        ("keyword", "2018-05-19T08:19:27.500000000Z", "open"),
    ]
    received = records[4]["timestamp"]  # no timestamp: the receive time
    assert received[:16] >= time.strftime("%Y-%m-%dT%H:%M", time.gmtime(before - 60))


@pytest.mark.parametrize("header", ["authorization", "AUTHORIZATION", "Authorization"])
def test_the_header_name_may_have_any_case(gateways, seed, header):
    device = seed()
    response = post(gateways, device.token, {"sensor_id": device.sensors["temp"], "value": 1}, header=header)
    assert response.status_code == 200


def _error(response):
    return response.status_code, response.json()["error"]["code"]


def test_every_refusal_has_its_code_and_publishes_nothing(gateways, seed, issuer, user_token, tap):
    device, other = seed(), seed()
    temp = device.sensors["temp"]
    good = {"sensor_id": temp, "value": 1}
    forged = jwt.encode({"sub": device.id, "aud": DEVICE, "ver": 1}, "not-the-platform-key-but-long-enough-for-hs256", algorithm="HS256",
                        headers={"kid": "x"})
    expired = issuer.issue(DEVICE, device.id, version=1, ttl=-120)
    cases = {
        "missing header": (post(gateways, None, good), (401, "missing_token")),
        "malformed header": (requests.post(gateways.http, json=good, headers={"Authorization": f"Token {device.token}"}),
                             (401, "malformed_header")),
        "bad signature": (post(gateways, device.token[:-4] + "AAAA", good), (403, "invalid_token")),
        "forged alg": (post(gateways, forged, good), (403, "invalid_token")),
        "expired": (post(gateways, expired, good), (403, "expired_token")),
        "wrong audience": (post(gateways, user_token, good), (403, "wrong_audience")),
        "unknown sensor": (post(gateways, device.token, {"sensor_id": "nope", "value": 1}), (422, "invalid")),
        "another device's sensor": (post(gateways, device.token, {"sensor_id": other.sensors["temp"], "value": 1}),
                                    (422, "invalid")),
        "type mismatch": (post(gateways, device.token, {"sensor_id": temp, "value": "warm"}), (422, "invalid")),
        "half valid": (post(gateways, device.token, [good, {"sensor_id": temp, "value": []}]), (422, "invalid")),
        "too large": (post(gateways, device.token, [good] * 5000), (413, "too_large")),
        "not JSON type": (post(gateways, device.token, raw=b"<temp>1</temp>", content_type="application/xml"),
                          (415, "unsupported_media_type")),
        "malformed JSON": (post(gateways, device.token, raw=b'{"sensor_id": '), (400, "bad_request")),
        "wrong shape": (post(gateways, device.token, raw=b'"hello"'), (400, "bad_request")),
    }
    assert {name: _error(response) for name, (response, _) in cases.items()} == \
        {name: expected for name, (_, expected) in cases.items()}
    details = cases["half valid"][0].json()["error"]["details"]
    assert [(d["index"], d["field"]) for d in details] == [(1, "value")]
    assert tap.settle(device.id) == []


def test_a_rotated_key_is_refused_within_the_cache_ttl(gateways, seed, rotate):
    device = seed()
    body = {"sensor_id": device.sensors["temp"], "value": 1}
    assert post(gateways, device.token, body).status_code == 200
    rotate(device)
    time.sleep(1.5)  # the gateway under test caches key versions for 1 s
    assert _error(post(gateways, device.token, body)) == (403, "revoked_token")


def test_the_new_key_works_at_once_after_a_rotation(gateways, seed, rotate, issuer):
    device = seed()
    body = {"sensor_id": device.sensors["temp"], "value": 1}
    assert post(gateways, device.token, body).status_code == 200  # the gateway now caches key version 1
    rotate(device)
    new_token = issuer.issue(DEVICE, device.id, version=2)
    assert post(gateways, new_token, body).status_code == 200  # well within the 1 s cache TTL
    assert _error(post(gateways, device.token, body)) == (403, "revoked_token")  # and the old key is out


def test_a_sensor_created_after_the_device_was_cached_is_accepted(gateways, seed, firestore_db):
    device = seed()
    assert post(gateways, device.token, {"sensor_id": device.sensors["temp"], "value": 1}).status_code == 200
    firestore_db.collection("sensors").document("late" + device.id).set(
        {"device_id": device.id, "owner_id": device.owner_id, "name": "late", "type": "double"})
    time.sleep(2.1)  # the early refresh for unknown sensors runs at most every 2 s per device
    assert post(gateways, device.token, {"sensor_id": "late" + device.id, "value": 2}).status_code == 200


def test_a_burst_over_the_device_rate_is_limited(gateways, seed):
    device = seed()
    body = {"sensor_id": device.sensors["temp"], "value": 1}
    statuses = [post(gateways, device.token, body) for _ in range(40)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].json()["error"]["code"] == "rate_limited"
    assert {r.status_code for r in statuses} == {200, 429}
    other = seed()  # the limit is per device
    assert post(gateways, other.token, {"sensor_id": other.sensors["temp"], "value": 1}).status_code == 200


def test_pubsub_down_answers_503_and_publishes_nothing(stack, seed, tap, dead_pubsub_env):
    stack.start_service("gateway-http", key="gw-http-dead-pubsub", extra_env=dead_pubsub_env)
    try:
        device = seed()
        response = requests.post(stack.url("gw-http-dead-pubsub"), json={"sensor_id": device.sensors["temp"],
                                                                           "value": 1},
                                 headers={"Authorization": f"Bearer {device.token}"}, timeout=30)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert int(response.headers["Retry-After"]) >= 1
        assert tap.settle(device.id, wait=4) == []
    finally:
        stack.stop_service("gw-http-dead-pubsub")
