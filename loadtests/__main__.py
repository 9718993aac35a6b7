"""``make bench``: run every benchmark, each on a private stack on free ports; results land in loadtests/results/.

    python -m loadtests                 # all of them
    python -m loadtests http_ingest     # some of them
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulators.stack import LocalStack, Ports
from loadtests.harness import RESULTS, ROOT

BENCHMARKS = ("http_ingest", "pipeline_throughput", "freshness", "cold_start", "sensor_burst", "paper_shapes",
              "mqtt_throughput", "command_latency", "rules_throughput")


def run_module(name: str, *args: str) -> int:
    """Run ``python -m loadtests.<name>`` in its own interpreter (so benchmarks never share state)."""
    return subprocess.run([sys.executable, "-m", f"loadtests.{name}", *args], cwd=ROOT).returncode


def sensor_burst() -> int:
    """The sensor-creation burst needs a running API: start the emulators and the composed API for it."""
    stack = LocalStack(Path(tempfile.mkdtemp(prefix="bench-burst-")), Ports.free())
    try:
        stack.start_backends()
        stack.bootstrap()
        stack.start_service("api")
        return run_module("sensor_burst", "--base-url", stack.url("api", ""), "--data-dir", str(stack.data_dir))
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    outcomes = {}
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        code = sensor_burst() if name == "sensor_burst" else run_module(name)
        outcomes[name] = (code, time.monotonic() - started)
    print("\n=== summary ===")
    for name, (code, seconds) in outcomes.items():
        print(f"  {name:<20} {'ok' if code == 0 else f'failed ({code})':<12} {seconds:6.0f}s  "
              f"{RESULTS / (name + '.md')}")
    return 0 if all(code == 0 for code, _ in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
