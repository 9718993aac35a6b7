"""gateway-ws bounds: frames waiting for their ack, inflated message size, open sockets per device.

The socket-level tests run ``BoundedSocket`` on one end of a socket pair with a wsproto client on the other
(the reader thread, the frames and the deflate stream are real); the rest go through the real gateway-ws.
"""

from __future__ import annotations

import socket
import time

import orjson
import pytest
import websocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as websocket_connect
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from run.gateway_ws.bounded_socket import BoundedSocket

WAIT = 10.0


class Client:
    """A wsproto client on one end of a socket pair; the other end is served by a ``BoundedSocket``."""

    def __init__(self, *, deflate: bool = False, **options) -> None:
        self.sock, server_end = socket.socketpair()
        self.sock.settimeout(WAIT)
        self.ws = WSConnection(ConnectionType.CLIENT)
        upgrade = self.ws.send(Request(host="gateway", target="/",
                                       extensions=[PerMessageDeflate()] if deflate else []))
        environ = {"gunicorn.socket": server_end}
        for line in upgrade.decode().split("\r\n")[1:]:
            if line:
                name, value = line.split(":", 1)
                environ["HTTP_" + name.strip().upper().replace("-", "_")] = value.strip()
        self.server = BoundedSocket(environ, **{"max_pending_frames": 8, "max_inflated_bytes": 65536, **options})
        assert isinstance(self.next_event(), AcceptConnection)

    def send_text(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def next_event(self):
        while True:
            for event in self.ws.events():
                return event
            self.ws.receive_data(self.sock.recv(65536) or None)

    def close(self) -> None:
        self.sock.close()
        try:
            self.server.close()
        except Exception:
            pass  # closed already


@pytest.fixture
def client():
    made: list[Client] = []

    def make(**options) -> Client:
        made.append(Client(**options))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_the_reader_stops_at_the_pending_bound_and_loses_nothing(client):
    pair = client(max_pending_frames=3)
    for i in range(40):  # the handler takes none yet: as if it waited on a slow publish
        pair.send_text(f"frame {i}")
    assert pair.server.input_buffer.waited.wait(WAIT), "the reader never waited for room"
    assert len(pair.server.input_buffer) == 3
    assert [pair.server.receive(timeout=WAIT) for _ in range(40)] == [f"frame {i}" for i in range(40)]


def test_a_compressed_message_inflating_beyond_the_limit_is_closed_with_1009(client):
    pair = client(deflate=True, max_inflated_bytes=65536, max_message_size=4 * 65536)
    pair.send_text(" " * 200_000)  # about 200 bytes on the wire
    event = pair.next_event()
    assert isinstance(event, CloseConnection) and event.code == 1009
    assert not pair.server.connected and len(pair.server.input_buffer) == 0


def test_compressed_messages_within_the_limit_arrive_whole(client):
    pair = client(deflate=True, max_inflated_bytes=65536)
    texts = ["x" * 65536, "y" * 10, orjson.dumps([{"sensor_id": "s", "value": i} for i in range(500)]).decode()]
    for text in texts:
        pair.send_text(text)
    assert [pair.server.receive(timeout=WAIT) for _ in texts] == texts


# --- through the real gateway-ws (tests/gateways/conftest.py: 64 KiB body limit, 2 sockets per device) ----------

def _open(gateways, token):
    return websocket.create_connection(gateways.ws, timeout=15, header=[f"Authorization: Bearer {token}"])


def test_a_device_may_hold_only_so_many_sockets(gateways, seed):
    device = seed()
    first, second = _open(gateways, device.token), _open(gateways, device.token)
    try:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            _open(gateways, device.token)
        assert refused.value.status_code == 429
        assert orjson.loads(refused.value.resp_body)["error"]["code"] == "too_many_sockets"
        assert int(refused.value.resp_headers["retry-after"]) >= 1
        other = _open(gateways, seed().token)  # another device is not affected
        other.close()
        first.close()
        third = _reopen(gateways, device.token)  # the slot is freed once the socket has ended
        third.send(orjson.dumps({"sensor_id": device.sensors["temp"], "value": 1}).decode())
        assert orjson.loads(third.recv())["ok"] is True
        third.close()
    finally:
        first.close()
        second.close()


def _reopen(gateways, token):
    deadline = time.monotonic() + 15
    while True:
        try:
            return _open(gateways, token)
        except websocket.WebSocketBadStatusException as exc:
            if exc.status_code != 429 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_compressed_frame_inflating_beyond_the_body_limit_closes_the_socket(gateways, seed, tap):
    device = seed()
    headers = {"Authorization": f"Bearer {device.token}"}
    with websocket_connect(gateways.ws, additional_headers=headers, compression="deflate", open_timeout=15) as ws:
        small = orjson.dumps({"sensor_id": device.sensors["label"], "value": "a" * 1000}).decode()
        ws.send(small)
        assert orjson.loads(ws.recv(timeout=15)) == {"ok": True, "accepted": 1, "replaced": 0}
        ws.send(orjson.dumps({"sensor_id": device.sensors["label"], "value": "a" * 100_000}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
        assert closed.value.rcvd.code == 1009
    assert len(tap.settle(device.id, wait=1)) == 1
