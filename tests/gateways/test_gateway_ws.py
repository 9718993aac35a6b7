"""gateway-ws end to end with a real WebSocket client: auth on the upgrade, one ack per frame, closes."""

import time

import orjson
import pytest
import websocket

pytestmark = pytest.mark.e2e


def connect(gateways, token):
    return websocket.create_connection(gateways.ws, timeout=15, header=[f"Authorization: Bearer {token}"])


def ack(ws):
    return orjson.loads(ws.recv())


def test_the_upgrade_needs_a_current_device_token(gateways, seed, user_token):
    with pytest.raises(websocket.WebSocketBadStatusException) as missing:
        websocket.create_connection(gateways.ws, timeout=10)
    assert missing.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as wrong:
        connect(gateways, user_token)
    assert wrong.value.status_code == 403
    device = seed()
    with pytest.raises(websocket.WebSocketBadStatusException) as forged:
        connect(gateways, device.token[:-4] + "AAAA")
    assert forged.value.status_code == 403


def test_each_frame_gets_one_ack_in_order_and_arrives(gateways, seed, tap):
    device = seed()
    temp, count = device.sensors["temp"], device.sensors["count"]
    ws = connect(gateways, device.token)
    try:
        ws.send(orjson.dumps({"sensor_id": temp, "timestamp": 1526717967, "value": 1.5}).decode())
        ws.send(orjson.dumps([{"sensor_id": temp, "value": 2}, {"sensor_id": count, "value": "7"}]).decode())
        ws.send(orjson.dumps({"sensor_id": temp, "value": "warm"}).decode())
        ws.send("{broken")
        ws.send_binary(orjson.dumps({"sensor_id": count, "value": 8}))
        acks = [ack(ws) for _ in range(5)]
    finally:
        ws.close()
    assert acks[0] == {"ok": True, "accepted": 1, "replaced": 0}
    assert acks[1] == {"ok": True, "accepted": 2, "replaced": 0}
    assert (acks[2]["ok"], acks[2]["status"], acks[2]["error"]["code"]) == (False, 422, "invalid")
    assert (acks[3]["ok"], acks[3]["status"], acks[3]["error"]["code"]) == (False, 400, "bad_request")
    assert acks[4] == {"ok": True, "accepted": 1, "replaced": 0}
    messages = tap.messages(device.id, 3)
    assert sorted(len(m["data"]["records"]) for m in messages) == [1, 1, 2]
    assert {m["attributes"]["gateway"] for m in messages} == {"ws"}
    first = next(m for m in messages if m["data"]["records"][0].get("value") == 1.5)
    assert first["data"]["records"][0]["timestamp"] == "2018-05-19T08:19:27.000000000Z"
    assert len(tap.settle(device.id, wait=1)) == 3


def test_the_socket_is_closed_when_the_token_expires(gateways, seed):
    device = seed(token_ttl=3)
    ws = connect(gateways, device.token)
    ws.send(orjson.dumps({"sensor_id": device.sensors["temp"], "value": 1}).decode())
    assert ack(ws)["ok"] is True
    ws.settimeout(30)
    opcode, frame = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame[:2], "big") == 1008
    assert b"expired" in frame[2:]
    ws.close()


def test_the_socket_is_closed_when_the_key_is_rotated(gateways, seed, rotate):
    device = seed()
    ws = connect(gateways, device.token)
    body = orjson.dumps({"sensor_id": device.sensors["temp"], "value": 1}).decode()
    ws.send(body)
    assert ack(ws)["ok"] is True
    rotate(device)
    time.sleep(1.5)  # the gateway under test caches key versions for 1 s
    ws.send(body)
    opcode, frame = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame[:2], "big") == 1008
    ws.close()


def test_pubsub_down_gives_an_unavailable_ack(stack, seed, dead_pubsub_env):
    stack.start_service("gateway-ws", key="gw-ws-dead-pubsub", extra_env=dead_pubsub_env)
    try:
        device = seed()
        url = stack.url("gw-ws-dead-pubsub").replace("http://", "ws://")
        ws = websocket.create_connection(url, timeout=30, header=[f"Authorization: Bearer {device.token}"])
        ws.send(orjson.dumps({"sensor_id": device.sensors["temp"], "value": 1}).decode())
        reply = ack(ws)
        ws.close()
        assert (reply["ok"], reply["status"], reply["error"]["code"]) == (False, 503, "unavailable")
        assert reply["retry_after"] >= 1
    finally:
        stack.stop_service("gw-ws-dead-pubsub")
