"""A server WebSocket (simple-websocket) whose memory per socket is bounded, and the view helper that serves one.

simple-websocket reads the socket in its own thread and appends every complete frame to a list the handler
takes from; while the handler waits on a slow publish or a slow client, that list would grow without limit.
Here the reader waits once ``max_pending_frames`` frames wait for the handler, so the socket is not read and
TCP pushes back on the device. permessage-deflate stays available (devices on metered links send repetitive
JSON), but a compressed message is inflated only up to ``max_inflated_bytes``: beyond, the socket is closed
with 1009 before more is inflated (wsproto's own extension inflates whatever a frame holds, about 1,000 times
its size).
"""

from __future__ import annotations

import threading
import zlib
from typing import Callable

from flask import Response
from simple_websocket import ConnectionClosed, Server
from wsproto.events import AcceptConnection, Request
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits

_SYNC_FLUSH_TAIL = b"\x00\x00\xff\xff"  # removed from each compressed message by the sender (RFC 7692 §7.2.1)


class PendingFrames(list):
    """Frames received and not yet taken by the handler: ``append`` (the reader thread) waits while ``limit``
    are pending and the socket is open; ``pop`` (the handler) makes room."""

    def __init__(self, limit: int, is_open: Callable[[], bool]):
        super().__init__()
        self.limit = limit
        self._is_open = is_open
        self._room = threading.Condition()
        self.waited = threading.Event()  # set once the reader had to wait for room (observable in tests)

    def append(self, frame) -> None:
        with self._room:
            while len(self) >= self.limit and self._is_open():
                self.waited.set()
                self._room.wait(1.0)  # woken by pop or wake; the timeout re-checks that the socket is open
            super().append(frame)

    def pop(self, index: int = -1):
        with self._room:
            frame = super().pop(index)
            self._room.notify()
            return frame

    def wake(self) -> None:
        """Let a waiting reader go on (the socket is closing)."""
        with self._room:
            self._room.notify_all()


class BoundedDeflate(PerMessageDeflate):
    """permessage-deflate whose inbound messages may inflate to at most ``max_message_bytes``.

    Negotiation and outbound compression are wsproto's; inbound inflation is done here, with zlib's
    ``max_length``, so no more than the limit (plus one byte) is ever produced for a message.
    """

    def __init__(self, max_message_bytes: int, **options) -> None:
        super().__init__(**options)
        self.max_message_bytes = max_message_bytes
        self._inflater = None
        self._control = False  # the current frame is a control frame (never compressed)
        self._compressed = False  # the current message is compressed
        self._inflated = 0

    def frame_inbound_header(self, proto, opcode: Opcode, rsv: RsvBits, payload_length: int):
        if rsv.rsv1 and (opcode.iscontrol() or opcode is Opcode.CONTINUATION):
            return CloseReason.PROTOCOL_ERROR
        self._control = opcode.iscontrol()
        if not self._control and opcode is not Opcode.CONTINUATION:  # the first frame of a message
            self._compressed = rsv.rsv1
            self._inflated = 0
            if self._compressed and self._inflater is None:
                bits = self.server_max_window_bits if proto.client else self.client_max_window_bits
                self._inflater = zlib.decompressobj(-bits)
        return RsvBits(True, False, False)

    def frame_inbound_payload_data(self, proto, data: bytes):
        if self._control or not self._compressed:
            return data
        return self._inflate(data)

    def frame_inbound_complete(self, proto, fin: bool):
        if self._control or not fin or not self._compressed:
            return None
        tail = self._inflate(_SYNC_FLUSH_TAIL)
        no_context_takeover = self.server_no_context_takeover if proto.client else self.client_no_context_takeover
        if no_context_takeover:
            self._inflater = None
        self._compressed = False
        return tail

    def _inflate(self, data: bytes):
        room = self.max_message_bytes - self._inflated
        try:
            # One byte more than the room tells "too big" apart from "exactly full".
            inflated = self._inflater.decompress(data, room + 1)  # type: ignore[union-attr]
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(inflated)
        if self._inflated > self.max_message_bytes:
            return CloseReason.MESSAGE_TOO_BIG
        return inflated


class BoundedSocket(Server):
    """simple-websocket's server socket with ``PendingFrames`` and ``BoundedDeflate``."""

    def __init__(self, environ: dict, *, max_pending_frames: int, max_inflated_bytes: int, **options) -> None:
        self._max_pending_frames = max_pending_frames
        self._max_inflated_bytes = max_inflated_bytes
        super().__init__(environ, **options)

    @property
    def input_buffer(self) -> PendingFrames:
        return self._pending

    @input_buffer.setter
    def input_buffer(self, frames: list) -> None:
        # The base class sets (and its reader thread appends to) this list: make it the bounded one.
        self._pending = PendingFrames(self._max_pending_frames, lambda: self.connected)
        self._pending.extend(frames)

    def handshake(self) -> None:
        """Accept the upgrade request of the WSGI environ, offering the bounded permessage-deflate."""
        request = b"GET / HTTP/1.1\r\n"
        for key, value in self.environ.items():
            if key.startswith("HTTP_"):
                header = "-".join(part.capitalize() for part in key[5:].split("_"))
                request += f"{header}: {value}\r\n".encode()
        self.ws.receive_data(request + b"\r\n")
        for event in self.ws.events():
            if isinstance(event, Request):
                self.subprotocol = self.choose_subprotocol(event)
                self.sock.send(self.ws.send(AcceptConnection(
                    subprotocol=self.subprotocol, extensions=[BoundedDeflate(self._max_inflated_bytes)])))
                self.connected = True

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        try:
            super().close(reason, message)
        finally:
            self._pending.wake()


class _Upgraded(Response):
    """The view's return value once its socket has ended: the server must write nothing more."""

    def __call__(self, environ, start_response):
        if "gunicorn.socket" in environ:
            raise StopIteration()  # gunicorn closes the connection without a response
        return super().__call__(environ, start_response)


def serve_websocket(environ: dict, options: dict, handler: Callable[[BoundedSocket], None]) -> Response:
    """Upgrade the request, run ``handler`` with the socket until it returns or the peer leaves, close it, and
    return what the view must return."""
    ws = BoundedSocket(environ, **options)
    try:
        handler(ws)
    except ConnectionClosed:
        pass
    try:
        ws.close()
    except ConnectionClosed:
        pass  # already closed by the peer or the handler
    return _Upgraded()
