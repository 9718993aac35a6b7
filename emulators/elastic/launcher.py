"""Start and stop the Elasticsearch stand-in as a child process (for the dev stack and test fixtures)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from emulators.process import ManagedProcess, StartupError, wait_until

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # replaying a journal of a million documents takes about half a minute


@dataclass
class StandIn:
    """A running stand-in: its URL, and stop() to end it (SIGTERM, then SIGKILL after a timeout)."""

    process: ManagedProcess
    url: str
    port: int
    data_path: str | None
    log_path: Path

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the process by its id; return its exit code (0 after a clean SIGTERM)."""
        return self.process.stop(timeout)


def start(port: int, data_path: str | None, *, host: str = "127.0.0.1", log_path: str | os.PathLike | None = None,
          timeout: float = START_TIMEOUT, fsync: bool = False) -> StandIn:
    """Spawn ``python -m emulators.elastic`` in its own process group and wait until ``GET /`` answers.

    ``port`` 0 lets the stand-in pick a free port (read back from its "listening" log line). Its log goes
    to ``log_path`` (default: beside the data file, or a temporary file). Raises StartupError with the log
    tail when it exits or does not answer within ``timeout`` seconds.
    """
    if log_path is None:
        if data_path:
            log_path = Path(str(data_path) + ".log")
        else:
            fd, name = tempfile.mkstemp(prefix="elastic-standin-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
    log_path = Path(log_path)
    if log_path.exists():
        log_path.write_bytes(b"")
    argv = [sys.executable, "-m", "emulators.elastic", "--host", host, "--port", str(port)]
    if data_path:
        argv += ["--data", str(data_path)]
    if fsync:
        argv.append("--fsync")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    process = ManagedProcess("elasticsearch-standin", argv, env=env, cwd=ROOT, log_path=log_path).start()
    bound: dict[str, int] = {}

    def ready() -> bool:
        if "port" not in bound:
            found = _listening_port(log_path)
            if found is None:
                return False
            bound["port"] = found
        url = f"http://{host}:{bound['port']}/"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200 and resp.headers.get("X-Elastic-Product") == "Elasticsearch"

    try:
        wait_until(ready, timeout=timeout, what=f"Elasticsearch stand-in on {host}:{port}", process=process,
                   interval=0.05)
    except StartupError:
        process.stop(5)
        raise
    return StandIn(process, f"http://{host}:{bound['port']}", bound["port"], data_path, log_path)


def _listening_port(log_path: Path) -> int | None:
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "listening" and "port" in entry:
            return int(entry["port"])
    return None
