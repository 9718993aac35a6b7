"""Outside tools a test needs: skipped when missing on a developer's machine, a failure in CI (``CI`` set),
where the Makefile must have installed them."""

from __future__ import annotations

import os
import shutil

import pytest


def missing(message: str):
    """Skip with ``message``, or fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def command(name: str, install: str) -> str:
    """The path of command ``name``; ``install`` says how to get it."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is missing: {install}")
    return path
