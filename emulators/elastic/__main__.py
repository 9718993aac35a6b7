"""Run the Elasticsearch stand-in: ``python -m emulators.elastic --host 127.0.0.1 --port 9200 --data PATH``.

Logs one JSON line ``{"message": "listening", "url": ...}`` when it accepts connections (with
``--port 0`` the line names the port chosen); SIGTERM or SIGINT stop it cleanly with exit code 0.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading

from infra.logs import configure_logging

from .journal import JournalError
from .server import make_server

logger = logging.getLogger("emulators.elastic")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.elastic", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9200, help="port to listen on; 0 picks a free one")
    parser.add_argument("--data", default=None,
                        help="journal file (or directory) that makes writes durable; omit for in-memory only")
    parser.add_argument("--fsync", action="store_true", help="fsync the journal after every write, not just flush")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level, service="elasticsearch-standin")
    # The store is millions of long-lived objects and creates no cycles on the hot path: collecting the young
    # generation every 700 allocations (the default) cost a third of bulk indexing time.
    gc.set_threshold(50_000, 50, 100)
    try:
        server = make_server(args.host, args.port, args.data, fsync=args.fsync)
    except (OSError, JournalError) as exc:
        logger.error("cannot start: %s", exc)
        return 1
    gc.freeze()  # what the journal replay loaded is permanent; keep full collections from rescanning it

    def stop(signum, frame):
        # serve_forever runs in this (main) thread, so shut it down from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("listening", extra={"url": server.url, "port": server.server_address[1],
                                    "data": args.data, "pid": _pid()})
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        server.store.close()
    logger.info("stopped")
    return 0


def _pid() -> int:
    import os
    return os.getpid()


if __name__ == "__main__":
    sys.exit(main())
