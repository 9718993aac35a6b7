"""The HTTP layer: a threaded HTTP/1.1 keep-alive server that reads each request, routes it, and answers JSON.

Every response, errors and HEAD included, carries ``X-Elastic-Product: Elasticsearch``; the official
client refuses a server without it. Each request body is read in full (Content-Length; gzip accepted) so a
kept-alive connection never sees leftovers; a chunked body (which the official client never sends) is refused and
its connection closed. ``filter_path`` is applied to every reply.
"""

from __future__ import annotations

import gzip
import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from .errors import EsError, unsupported
from .faults import Faults, rejected_503
from .store import Store
from .routes import Request, check_params, match_route, new_cluster_uuid

logger = logging.getLogger(__name__)

_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}
MAX_BODY = 100 * 1024 * 1024  # ES's default http.max_content_length


class StandInServer(ThreadingHTTPServer):
    """One process-wide store and fault table behind a thread-per-connection server."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], store: Store, faults: Faults | None = None):
        super().__init__(address, Handler)
        self.store = store
        self.faults = faults or Faults()
        self.cluster_uuid = new_cluster_uuid()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "elasticsearch-standin"
    server: StandInServer

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def log_message(self, format, *args):  # no access log: it would dominate the cost of small requests
        pass

    def end_headers(self):
        # Replies the base class writes itself (a malformed request line, 100-continue) carry it too.
        self.send_header("X-Elastic-Product", "Elasticsearch")
        super().end_headers()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # the unread body would be taken for the next request
            raise unsupported("a request body sent with Transfer-Encoding (send Content-Length)")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise EsError(413, "content_too_long_exception",
                          f"request body [{length}] is larger than [{MAX_BODY}] bytes")
        body = self.rfile.read(length) if length else b""
        if body and self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        return body

    def _handle(self) -> None:
        method = self.command
        status, payload = 500, None
        try:
            body = self._read_body()
            split = urlsplit(self.path)
            segments = [unquote(s) for s in split.path.split("/") if s]
            params = dict(parse_qsl(split.query, keep_blank_values=True))
            if not (segments and segments[0] == "_standin") and self.server.faults.take("reject_requests_503"):
                raise rejected_503()
            handler, args, accepted = match_route(method, segments)
            check_params(split.path, params, accepted)
            req = Request(method, split.path, args, params, body, self.server.store, self.server.faults,
                          self.server.cluster_uuid)
            status, payload = handler(req)
            if payload is not None and params.get("filter_path"):
                payload = filter_path(payload, params["filter_path"])
        except EsError as exc:
            status, payload = exc.status, exc.to_body()
        except Exception as exc:  # a bug in the stand-in: answer ES-shaped, keep serving
            logger.exception("request %s %s failed", method, self.path)
            status = 500
            payload = {"error": {"root_cause": [{"type": "exception", "reason": str(exc)}], "type": "exception",
                                 "reason": f"internal error in the Elasticsearch stand-in: {exc}"}, "status": 500}
        self._send(status, payload, head=(method == "HEAD"))

    def _send(self, status: int, payload, head: bool) -> None:
        data = b"" if (payload is None or head) else orjson.dumps(payload)
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
                 "X-Elastic-Product: Elasticsearch",
                 "Content-Type: application/json",
                 f"Content-Length: {len(data)}"]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)


def filter_path(payload, spec: str):
    """Keep only the parts of a reply named by ES's ``filter_path`` (``*`` and ``**`` wildcards)."""
    patterns = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("-"):
            raise unsupported("exclusions in [filter_path]")
        patterns.append([_segment(p) for p in item.split(".")])
    result = _filter(payload, patterns)
    return {} if result is _NOTHING else result


_NOTHING = object()


def _segment(text: str):
    if text == "**":
        return "**"
    return re.compile("^" + ".*".join(re.escape(p) for p in text.split("*")) + "$")


def _filter(value, patterns):
    if isinstance(value, orjson.Fragment):
        value = orjson.loads(orjson.dumps(value))
    if isinstance(value, list):
        items = [_filter(v, patterns) for v in value]
        items = [v for v in items if v is not _NOTHING]
        return items if items else _NOTHING
    if not isinstance(value, dict):
        return _NOTHING
    out = {}
    for key, sub in value.items():
        whole = False
        rest = []
        for p in patterns:
            expanded = [p]
            while expanded and expanded[0] and expanded[0][0] == "**":
                cur = expanded.pop(0)
                if len(cur) == 1:
                    whole = True
                    break
                rest.append(cur)  # ** consumes this key and stays
                expanded.append(cur[1:])  # ** matches nothing
            for q in expanded:
                if q and q[0] != "**" and q[0].match(key):
                    if len(q) == 1:
                        whole = True
                    else:
                        rest.append(q[1:])
        if whole:
            out[key] = sub
        elif rest:
            filtered = _filter(sub, rest)
            if filtered is not _NOTHING:
                out[key] = filtered
    return out if out else _NOTHING


def make_server(host: str, port: int, data_path: str | None, fsync: bool = False) -> StandInServer:
    """Build the server with its store (replaying ``data_path`` when given); call serve_forever() to run."""
    store = Store(data_path, fsync=fsync)
    return StandInServer((host, port), store)
