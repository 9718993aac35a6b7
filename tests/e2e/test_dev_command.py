"""`make dev`'s runner: everything comes up healthy, a second one refuses, Ctrl-C leaves no process behind."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from infra.config import ROOT

pytestmark = pytest.mark.e2e


def _processes_with(marker: str) -> list[int]:
    """Pids of processes whose environment mentions ``marker`` (everything the runner started inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _read_until_up(process, timeout=120) -> str:
    """The runner's output up to the last row of its URL table (the ``logs`` row)."""
    output, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output += line
        if line.strip().startswith("logs") and "stops everything" in output:
            return output
    raise AssertionError(f"the platform did not come up:\n{output}")


def test_dev_runs_everything_refuses_a_second_run_and_stops_clean(tmp_path):
    env = {**os.environ, "IOT_DATA_DIR": str(tmp_path)}
    env.pop("ELASTICSEARCH_URL", None)
    runner = subprocess.Popen([sys.executable, "-m", "emulators", "dev", "--free-ports"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        table = _read_until_up(runner)
        # Every service row carries an http:// or ws:// URL; each of those ports answers /healthz.
        service_ports = {int(p) for p in re.findall(r"(?:http|ws)://127\.0\.0\.1:(\d+)", table)}
        ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", table)}
        assert len(service_ports) == 7, table  # api, gateway-http, gateway-ws, gateway-mqtt (ws), pipeline, rules, ES
        for port in service_ports - {int(re.search(r"elasticsearch\s+http://127\.0\.0\.1:(\d+)", table)[1])}:
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200, port

        second = subprocess.run([sys.executable, "-m", "emulators", "dev", "--free-ports"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert "Traceback" not in second.stderr + second.stdout
    finally:
        runner.send_signal(signal.SIGINT)
        remaining = runner.communicate(timeout=60)[0]
    assert runner.returncode == 0, remaining
    assert "stopped." in remaining
    deadline = time.monotonic() + 10
    while _processes_with(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(str(tmp_path)) == []
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
