"""Raw MQTT peers: the gateway's own codec over a plain TCP socket or a WebSocket, for exact bytes and cut
connections."""

from __future__ import annotations

import socket

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as websocket_connect

from run.gateway_mqtt.codec import Decoder, encode


class RawPeer:
    """A plain TCP socket speaking bytes, for exact-byte assertions against the gateway."""

    def __init__(self, port: int, version: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.decoder = Decoder(version)
        self.version = version

    def send(self, *packets) -> None:
        self._write(b"".join(p if isinstance(p, bytes) else encode(p, self.version) for p in packets))

    def receive_bytes(self) -> bytes:
        """Return everything the gateway sends until it closes the connection."""
        chunks = []
        while chunk := self._read():
            chunks.append(chunk)
        return b"".join(chunks)

    def receive(self):
        """Return the next packet, or None when the gateway closed the connection."""
        while (packet := self.decoder.next_packet()) is None:
            chunk = self._read()
            if not chunk:
                return None
            self.decoder.feed(chunk)
        return packet

    def close(self) -> None:
        self.sock.close()

    def _write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self) -> bytes:
        return self.sock.recv(65536)


class RawWebSocketPeer(RawPeer):
    """The same over MQTT over WebSocket (subprotocol ``mqtt``); each ``send`` is one binary frame."""

    def __init__(self, port: int, version: int, timeout: float = 10.0, path: str = "/mqtt") -> None:
        self.ws = websocket_connect(f"ws://127.0.0.1:{port}{path}", subprotocols=["mqtt"], open_timeout=timeout,
                                    close_timeout=1)
        self.timeout = timeout
        self.decoder = Decoder(version)
        self.version = version

    def close(self) -> None:
        self.ws.close()

    def _write(self, data: bytes) -> None:
        self.ws.send(data)

    def _read(self) -> bytes:
        try:
            return self.ws.recv(timeout=self.timeout)
        except ConnectionClosed:
            return b""
