"""A gateway process for the SIGTERM test: ``serve()`` on free ports with test ports implementations.

Prints ``{"tcp": port, "ws": port}`` once listening, then ``started`` whenever the sink is called; each
sink call waits for a line on stdin, so the test decides when publishes in flight finish.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from run.gateway_mqtt.ports import BadCredentials, DeviceIdentity, Stored
from run.gateway_mqtt.server import Limits, serve


class Authenticator:
    """Accepts password ``ok-<device_id>``."""

    async def authenticate(self, username, password, client_id):
        if not password or not password.startswith(b"ok-"):
            raise BadCredentials("bad token")
        return DeviceIdentity(password[3:].decode())


class StdinGatedSink:
    """Announces each call on stdout and finishes it when a line arrives on stdin."""

    async def publish(self, identity, payload: bytes, **delivery) -> Stored:
        print("started", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        return Stored(1)


def announce(server) -> None:
    print(json.dumps({"tcp": server.tcp_port, "ws": server.ws_port}), flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(Authenticator(), StdinGatedSink(), host="127.0.0.1", tcp_port=0, ws_port=0,
                      limits=Limits(shutdown_grace=20.0), ready=announce))
