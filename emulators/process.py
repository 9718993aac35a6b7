"""Child processes of the local stack: each in its own process group, stopped by its process id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence


class StartupError(RuntimeError):
    """A process of the local stack did not come up; the message says why and what to do."""


@dataclass
class ManagedProcess:
    """A child started in a new session, so stopping its group also stops what it spawned (gcloud → java)."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    log_path: Path | None = None
    cwd: Path | None = None
    popen: subprocess.Popen | None = field(default=None, init=False)

    def start(self) -> "ManagedProcess":
        """Spawn the process; its output goes to ``log_path`` (or is inherited when None)."""
        out = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(self.log_path, "ab", buffering=0)
        try:
            self.popen = subprocess.Popen(
                list(self.argv), env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True)
        finally:
            if out is not None:
                out.close()
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process log, to explain a failure."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> int | None:
        """Send SIGTERM to the process group, then SIGKILL after ``timeout``; return the exit code."""
        if self.popen is None:
            return None
        pgid = self.popen.pid  # start_new_session makes the child its own group leader
        if self.popen.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGKILL)
                self.popen.wait(5)
        # Grandchildren (the JVM under gcloud) may outlive the leader; end the rest of the group too.
        _signal_group(pgid, signal.SIGTERM)
        _wait_group_gone(pgid, timeout)
        return self.popen.returncode


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, process: ManagedProcess | None = None,
               interval: float = 0.1) -> None:
    """Poll ``check`` until it returns True; fail early if ``process`` exits, and after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise StartupError(f"{what}: the process exited with code {process.popen.returncode}\n"
                               f"{process.log_tail()}")
        try:
            if check():
                return
        except Exception as exc:  # not up yet; keep the last reason for the message
            last_error = exc
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    tail = f"\n{process.log_tail()}" if process is not None else ""
    raise StartupError(f"{what}: not ready after {timeout:g}s{detail}{tail}")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral port nothing listens on right now (for tests and parallel runs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
