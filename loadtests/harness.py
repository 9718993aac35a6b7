"""Shared benchmark plumbing: a private stack on free ports, wrk runs, result files and plots.

Benchmarks report every figure next to a ceiling measured in the same run on the same machine, and write
``loadtests/results/<name>.json``, ``.md`` and ``.png``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from emulators.process import ManagedProcess, free_port, wait_until

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and failures."""

    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int


def machine() -> dict:
    """What the numbers were measured on."""
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
            "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def cpu_affinity(cpus: str | None) -> list[str]:
    """A ``taskset`` prefix pinning a process to ``cpus`` (e.g. "0"), when there is more than one core."""
    if cpus is None or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", cpus]


# wrk's --latency report stops at 50/75/90/99 %; this Lua hook adds the 95th percentile in the same format.
WRK_P95_HOOK = """
done = function(summary, latency, requests)
  io.write(string.format("     95%%  %.2fms\\n", latency:percentile(95) / 1000))
end
"""


def run_wrk(url: str, *, body: bytes, headers: dict[str, str], seconds: int = 10, connections: int = 64,
            cpus: str | None = "1") -> WrkResult:
    """POST ``body`` to ``url`` with wrk (closed loop, ``connections`` at once) and parse its report."""
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(body)
        script = Path(tmp) / "post.lua"
        lines = ['wrk.method = "POST"', f'wrk.body = io.open("{body_file}"):read("*a")']
        lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
        script.write_text("\n".join(lines) + "\n" + WRK_P95_HOOK)
        out = subprocess.run([*cpu_affinity(cpus), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                              "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(report: str) -> WrkResult:
    """Read throughput, percentiles and failures from wrk's ``--latency`` report."""

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", report, re.MULTILINE)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"(\d+) requests in", report).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return WrkResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1)),
        p50_ms=percentile("50"), p90_ms=percentile("90"), p95_ms=percentile("95"), p99_ms=percentile("99"),
        requests=requests,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in errors.groups()) if errors else 0)


def serve(argv: list[str], env: dict[str, str], port: int, log: Path, cpus: str | None = "0") -> ManagedProcess:
    """Start a server process pinned to ``cpus`` and wait for its /healthz."""
    import requests

    process = ManagedProcess(argv[0], [*cpu_affinity(cpus), *argv], env=env, cwd=ROOT, log_path=log).start()
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok, timeout=30,
               what=" ".join(argv), process=process)
    return process


def python_module(module: str, *args: str) -> list[str]:
    """argv running ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def write_results(name: str, data: dict, markdown: str) -> None:
    """Write ``results/<name>.json`` and ``results/<name>.md``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown)


def table(headers: list[str], rows: list[list]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


__all__ = ["RESULTS", "WrkResult", "free_port", "machine", "parse_wrk", "python_module", "run_wrk", "serve",
           "table", "write_results"]
