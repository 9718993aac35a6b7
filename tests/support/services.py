"""Service processes of the local stack a test module runs under its own keys, beside every other module's."""

from __future__ import annotations

import contextlib
from typing import Iterator

from emulators.stack import LocalStack


@contextlib.contextmanager
def running(stack: LocalStack, keys: dict[str, str]) -> Iterator[None]:
    """Start each service of ``keys`` (service name -> process key) at once, wait until all are healthy, and stop
    them on leaving."""
    for name, key in keys.items():
        stack.spawn_service(name, key=key)
    try:
        for key in keys.values():
            stack.wait_healthy(key)
        yield
    finally:
        for key in keys.values():
            stack.stop_service(key)
