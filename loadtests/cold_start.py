"""Cold start per service: from process start (``python -m run <service>``) to the first 200 on /healthz.

Each service starts as Cloud Run starts it (IOT_SERVICE and PORT set, the image's environment, the service's
deploy environment, MQTT over TCP off), pinned to CPU 0 like a one-vCPU instance, against the local stack's
emulators; this process polls /healthz from CPU 1. Also measured: the import time of each service module in
a fresh interpreter, and, with ``python -X importtime``, the modules that take the longest.

Run ``python -m loadtests.cold_start [--runs N] [service ...]``; writes results/cold_start.{json,md,png}.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulators.process import ManagedProcess, free_port
from emulators.stack import LocalStack, Ports
from loadtests.harness import RESULTS, ROOT, cpu_affinity, machine, table, write_results
from run.services import BY_NAME, SERVICES

logger = logging.getLogger(__name__)

TARGET_SECONDS = 1.0  # every gateway, process start to first 200
GATEWAYS = ("gateway-http", "gateway-ws", "gateway-mqtt")
POLL_INTERVAL = 0.002
SETTLE_SECONDS = 5.0  # the emulators' JVMs are busy for a moment after they answer
START_TIMEOUT = 30.0
TOP_IMPORTS = 8
SERVICE_CPU = "0"
POLLER_CPU = 1


def service_module(name: str) -> str:
    """The module a service's process imports to serve: its app factory's package, or its asyncio entry point."""
    service = BY_NAME[name]
    return f"{service.module}.main" if service.server == "asyncio" else service.module


def service_env(stack: LocalStack, name: str, port: int) -> dict[str, str]:
    """The environment of one instance, as close to Cloud Run's as the local stack allows."""
    return {**os.environ, **stack.service_env(name), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "IOT_SERVICE": name, "PORT": str(port), "IOT_MQTT_TCP_PORT": "0"}


def healthy(port: int) -> bool:
    """True when /healthz answers 200 (a refused connection is simply not yet)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def time_to_first_200(stack: LocalStack, name: str, log: Path) -> float:
    """Start the service, return seconds from spawn to the first 200 on /healthz, then stop it with SIGTERM."""
    port = free_port()
    argv = [*cpu_affinity(SERVICE_CPU), sys.executable, "-m", "run"]
    process = ManagedProcess(name, argv, env=service_env(stack, name, port), cwd=ROOT, log_path=log)
    started = time.perf_counter()
    process.start()
    try:
        while not healthy(port):
            if not process.alive():
                raise RuntimeError(f"{name} exited with {process.popen.returncode}\n{process.log_tail()}")
            if time.perf_counter() - started > START_TIMEOUT:
                raise RuntimeError(f"{name} not healthy after {START_TIMEOUT:g}s\n{process.log_tail()}")
            time.sleep(POLL_INTERVAL)
        return time.perf_counter() - started
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.stop()


def import_seconds(module: str) -> float:
    """Seconds ``importlib.import_module(module)`` takes in a fresh, pinned interpreter."""
    code = ("import importlib, time; t = time.perf_counter(); importlib.import_module(%r); "
            "print(time.perf_counter() - t)" % module)
    out = subprocess.run([*cpu_affinity(SERVICE_CPU), sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    return float(out.stdout.strip())


def package_of(module: str) -> str:
    """The package an import is charged to: google.cloud.<x>, google.<x>, run.<x>, infra.<x>, or the top level."""
    parts = module.split(".")
    if module.startswith("google.cloud."):
        return ".".join(parts[:3])
    if parts[0] in ("google", "run", "infra"):
        return ".".join(parts[:2])
    return parts[0]


def slowest_imports(module: str) -> list[dict]:
    """The packages whose own import time is largest when ``module`` is imported (``-X importtime``, self µs)."""
    out = subprocess.run([*cpu_affinity(SERVICE_CPU), sys.executable, "-X", "importtime", "-c", f"import {module}"],
                         cwd=ROOT, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}).stderr
    totals: dict[str, int] = {}
    for line in out.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", line)
        if match:
            package = package_of(match.group(2))
            totals[package] = totals.get(package, 0) + int(match.group(1))
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:TOP_IMPORTS]
    return [{"package": name, "ms": round(us / 1000, 1)} for name, us in ranked]


def measure(names: list[str], runs: int) -> dict:
    """Start the backends once, then measure every service ``runs`` times (after one warm-up start)."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-cold-start-"))
    stack = LocalStack(data_dir, Ports.free())
    results: dict = {"machine": machine(), "runs": runs, "target_seconds": TARGET_SECONDS, "services": {}}
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {POLLER_CPU})
    # The image compiles its code at build time (Dockerfile); so does this run, before anything is timed.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "infra", "run"], cwd=ROOT, check=True)
    try:
        stack.start_backends()
        stack.bootstrap()
        time.sleep(SETTLE_SECONDS)
        results["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
        for name in names:
            log = data_dir / f"{name}.log"
            # The first start fills the page cache, as an image already pulled onto a Cloud Run host has it:
            # it is not counted.
            time_to_first_200(stack, name, log)
            starts = [time_to_first_200(stack, name, log) for _ in range(runs)]
            module = service_module(name)
            imports = [import_seconds(module) for _ in range(runs)]
            results["services"][name] = {
                "module": module,
                "first_200_s": [round(s, 4) for s in starts],
                "first_200_median_s": round(statistics.median(starts), 4),
                "import_s": [round(s, 4) for s in imports],
                "import_median_s": round(statistics.median(imports), 4),
                "slowest_imports": slowest_imports(module),
            }
            logger.info("%s: first 200 %.3f s, import %.3f s", name, statistics.median(starts),
                        statistics.median(imports))
        runner = [import_seconds("run.server") for _ in range(runs)]
        results["runner_import_median_s"] = round(statistics.median(runner), 4)
        results["runner_slowest_imports"] = slowest_imports("run.server")
        results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        stack.stop()
    return results


def summarise(results: dict) -> str:
    """The markdown report."""
    m = results["machine"]
    rows = []
    for name, data in results["services"].items():
        gateway = name in GATEWAYS
        verdict = ("yes" if data["first_200_median_s"] < TARGET_SECONDS else "**no**") if gateway else "—"
        rows.append([name, f"{data['first_200_median_s'] * 1000:.0f}", f"{min(data['first_200_s']) * 1000:.0f}",
                     f"{max(data['first_200_s']) * 1000:.0f}", f"{data['import_median_s'] * 1000:.0f}", verdict])
    lines = [
        "# Cold start per service",
        "",
        f"Measured {m['when']} on {m['cpus']} CPUs, Python {m['python']}. Each service started as "
        f"`python -m run` with IOT_SERVICE and PORT set (its Cloud Run command), pinned to CPU {SERVICE_CPU} "
        f"(one vCPU), against the local emulators; /healthz polled every {POLL_INTERVAL * 1000:g} ms from "
        f"another CPU. Median of {results['runs']} starts after one uncounted warm-up start. Import time: "
        "`importlib.import_module` of the service module in a fresh interpreter (median of the same count). "
        f"Load average (1, 5, 15 min) before: {results['load_average_before']}, after: "
        f"{results['load_average_after']} (the machine is shared: other runs add noise).",
        "",
        table(["service", "first 200 median ms", "min ms", "max ms", "service module import ms",
               f"gateway under {TARGET_SECONDS:g} s"], rows),
        f"The runner (`run.server`: gunicorn, the settings, logging) imports in "
        f"{results['runner_import_median_s'] * 1000:.0f} ms before a gunicorn worker imports its service module.",
        "",
        "Where the import time goes (`python -X importtime`: each package's own import time in ms, summed "
        "over its modules, largest first):",
        "",
    ]
    for name, data in results["services"].items():
        top = ", ".join(f"{item['package']} {item['ms']:.0f}" for item in data["slowest_imports"])
        lines.append(f"- **{name}** (`{data['module']}`): {top}")
    runner = ", ".join(f"{item['package']} {item['ms']:.0f}" for item in results["runner_slowest_imports"])
    lines += [f"- **runner** (`run.server`): {runner}", "", "![Cold start](cold_start.png)", ""]
    return "\n".join(lines)


def plot(results: dict) -> None:
    """A bar chart: median time to first 200 and module import time per service, with the gateway target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["services"])
    first = [results["services"][n]["first_200_median_s"] * 1000 for n in names]
    imports = [results["services"][n]["import_median_s"] * 1000 for n in names]
    positions = range(len(names))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.bar([p - 0.2 for p in positions], first, width=0.4, label="process start → first 200 (median)")
    ax.bar([p + 0.2 for p in positions], imports, width=0.4, label="service module import (median)")
    ax.axhline(TARGET_SECONDS * 1000, color="tab:red", linestyle="--", label=f"gateway target {TARGET_SECONDS:g} s")
    ax.set_xticks(list(positions), names, rotation=30, ha="right")
    ax.set_ylabel("ms")
    ax.set_ylim(0, max([*first, TARGET_SECONDS * 1000]) * 1.3)
    ax.set_title(f"Cold start per service ({results['machine']['cpus']} CPUs, service pinned to one)")
    ax.legend(loc="upper left", ncols=3, fontsize="small")
    fig.tight_layout()
    fig.savefig(RESULTS / "cold_start.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Measure, then write results/cold_start.{json,md,png}; exit 1 when a gateway misses the target."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("services", nargs="*", metavar="service", help="services to measure (default: all)")
    parser.add_argument("--runs", type=int, default=7, help="starts per service (median reported)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    unknown = sorted(set(args.services) - set(BY_NAME))
    if unknown:
        parser.error(f"unknown service(s): {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    results = measure(args.services or [s.name for s in SERVICES], args.runs)
    write_results("cold_start", results, summarise(results))
    plot(results)
    slow = [n for n in GATEWAYS if n in results["services"]
            and results["services"][n]["first_200_median_s"] >= TARGET_SECONDS]
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
