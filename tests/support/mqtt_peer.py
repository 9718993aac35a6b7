"""A raw MQTT peer: a plain TCP socket speaking the gateway's own codec, for exact bytes and cut connections."""

from __future__ import annotations

import socket

from run.gateway_mqtt.codec import Decoder, encode


class RawPeer:
    """A plain TCP socket speaking bytes, for exact-byte assertions against the gateway."""

    def __init__(self, port: int, version: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.decoder = Decoder(version)
        self.version = version

    def send(self, *packets) -> None:
        self.sock.sendall(b"".join(p if isinstance(p, bytes) else encode(p, self.version) for p in packets))

    def receive_bytes(self) -> bytes:
        """Return everything the gateway sends until it closes the connection."""
        chunks = []
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    def receive(self):
        """Return the next packet, or None when the gateway closed the connection."""
        while (packet := self.decoder.next_packet()) is None:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.decoder.feed(chunk)
        return packet

    def close(self) -> None:
        self.sock.close()
