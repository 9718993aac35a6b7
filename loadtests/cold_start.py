"""Cold start per service: from process start (``python -m run <service>``) to the first 200 on /healthz, as a
ratio against a trivial Flask app started the same way in the same run.

Each service starts as Cloud Run starts it (IOT_SERVICE and PORT set, the image's environment, the service's deploy
environment, MQTT over TCP off, the public keys as a key set), pinned to CPU 0 like a one-vCPU instance, against the
local stack's emulators; this process polls /healthz from CPU 1. Each start of a service is followed by a start of
the ceiling, ``loadtests/trivial_app.py`` (Flask, one route, under the same gunicorn runner with the service's
options), so both see the same machine: the ratio of their medians is what the code costs, whatever the machine's
speed. Target: at most ``TARGET_RATIO``; a miss is reported, not a failure. gateway-http is also timed to its first
accepted reading, a device's first request. Also measured: the import time of each service module in a fresh
interpreter, and, with ``python -X importtime``, the modules that take the longest.

Run ``python -m loadtests.cold_start [--runs N] [service ...]``; writes results/cold_start.{json,md,png}.
"""

from __future__ import annotations

import argparse
import http.client
import json
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
from typing import Callable

from emulators.process import ManagedProcess, free_port
from emulators.stack import LocalStack, Ports
from infra.adapters.keys import jwks, load_signing_key
from infra.domain.claims import DEVICE
from loadtests.harness import RESULTS, ROOT, cpu_affinity, machine, table, write_results
from loadtests.seeding import seed_device, signing_issuer
from run.services import BY_NAME, SERVICES

logger = logging.getLogger(__name__)

TARGET_RATIO = 1.5  # every service's median against the trivial app's, both started the same way
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


def key_set(stack: LocalStack) -> Path:
    """The stack's public key set as a JWKS file: deployed services verify with IOT_JWKS (terraform/services.tf), so
    only token issuers parse the private signing key at start, as in the cloud."""
    path = stack.data_dir / "bench-jwks.json"
    if not path.exists():
        path.write_text(json.dumps(jwks(load_signing_key(stack.settings()))))
    return path


def service_env(stack: LocalStack, name: str, port: int) -> dict[str, str]:
    """The environment of one instance, as close to Cloud Run's as the local stack allows."""
    return {**os.environ, **stack.service_env(name), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "IOT_SERVICE": name, "PORT": str(port), "IOT_MQTT_TCP_PORT": "0", "IOT_JWKS_FILE": str(key_set(stack))}


def answers_200(port: int, method: str = "GET", path: str = "/healthz", body: bytes | None = None,
                headers: dict[str, str] | None = None) -> bool:
    """True when the request answers 200 (a refused connection is simply not yet)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def healthy(port: int) -> bool:
    """True when /healthz answers 200."""
    return answers_200(port)


def reading_accepted(token: str, sensor_id: str) -> Callable[[int], bool]:
    """A probe: True when ``POST /`` with one reading of ``sensor_id`` answers 200, a device's first request to
    gateway-http (the trivial app answers the same request with 200 too)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def probe(port: int) -> bool:
        body = json.dumps({"sensor_id": sensor_id, "value": 21.5}).encode()
        return answers_200(port, "POST", "/", body, headers)

    return probe


def service_argv(name: str, port: int) -> list[str]:
    """The service's command, as the image runs it (the port comes from $PORT)."""
    return [*cpu_affinity(SERVICE_CPU), sys.executable, "-m", "run"]


def trivial_argv(name: str, port: int) -> list[str]:
    """The ceiling's command: the trivial app under the gunicorn options of ``name`` (gateway-mqtt, which runs no
    gunicorn, is compared with gateway-http's)."""
    like = name if BY_NAME[name].server == "gunicorn" else "gateway-http"
    return [*cpu_affinity(SERVICE_CPU), sys.executable, "-m", "loadtests.trivial_app", str(port), like]


def time_to_first_200(stack: LocalStack, name: str, log: Path, command=service_argv,
                      probe: Callable[[int], bool] = healthy) -> float:
    """Start ``command`` as the service ``name`` would be, return seconds from spawn to the first 200 of ``probe``
    (default: on /healthz), then stop it with SIGTERM."""
    port = free_port()
    argv = command(name, port)
    process = ManagedProcess(name, argv, env=service_env(stack, name, port), cwd=ROOT, log_path=log)
    started = time.perf_counter()
    process.start()
    try:
        while not probe(port):
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
    results: dict = {"machine": machine(), "runs": runs, "target_ratio": TARGET_RATIO, "services": {}}
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
            log, trivial_log = data_dir / f"{name}.log", data_dir / f"{name}-trivial.log"
            # The first start of each fills the page cache, as an image already pulled onto a Cloud Run host has it:
            # it is not counted.
            time_to_first_200(stack, name, log)
            time_to_first_200(stack, name, trivial_log, trivial_argv)
            starts, trivial = [], []
            for _ in range(runs):  # alternated, so that both meet the same moments of a shared machine
                starts.append(time_to_first_200(stack, name, log))
                trivial.append(time_to_first_200(stack, name, trivial_log, trivial_argv))
            module = service_module(name)
            imports = [import_seconds(module) for _ in range(runs)]
            median, ceiling = statistics.median(starts), statistics.median(trivial)
            results["services"][name] = {
                "module": module,
                "first_200_s": [round(s, 4) for s in starts],
                "first_200_median_s": round(median, 4),
                "trivial_s": [round(s, 4) for s in trivial],
                "trivial_median_s": round(ceiling, 4),
                "ratio": round(median / ceiling, 2),
                "import_s": [round(s, 4) for s in imports],
                "import_median_s": round(statistics.median(imports), 4),
                "slowest_imports": slowest_imports(module),
            }
            logger.info("%s: first 200 %.3f s, %.2fx the trivial app's %.3f s, import %.3f s", name, median,
                        median / ceiling, ceiling, statistics.median(imports))
        if "gateway-http" in names:
            results["first_reading"] = first_reading(stack, data_dir, runs)
        runner = [import_seconds("run.server") for _ in range(runs)]
        results["runner_import_median_s"] = round(statistics.median(runner), 4)
        results["runner_slowest_imports"] = slowest_imports("run.server")
        results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        stack.stop()
    return results


def first_reading(stack: LocalStack, data_dir: Path, runs: int) -> dict:
    """gateway-http from process start to its first accepted reading, against the trivial app's first POST: what a
    device waiting for a cold instance sees, the Firestore and Pub/Sub clients it builds on that request included."""
    device_id, _, sensors = seed_device(stack.settings(), {"temperature": "double"})
    probe = reading_accepted(signing_issuer(stack.settings()).issue(DEVICE, device_id, version=1),
                             sensors["temperature"])
    log, trivial_log = data_dir / "gateway-http-reading.log", data_dir / "gateway-http-reading-trivial.log"
    starts, trivial = [], []
    for _ in range(runs):
        starts.append(time_to_first_200(stack, "gateway-http", log, probe=probe))
        trivial.append(time_to_first_200(stack, "gateway-http", trivial_log, trivial_argv, probe))
    median, ceiling = statistics.median(starts), statistics.median(trivial)
    logger.info("gateway-http: first reading %.3f s, %.2fx the trivial app's first POST %.3f s", median,
                median / ceiling, ceiling)
    return {"first_reading_s": [round(s, 4) for s in starts], "first_reading_median_s": round(median, 4),
            "trivial_s": [round(s, 4) for s in trivial], "trivial_median_s": round(ceiling, 4),
            "ratio": round(median / ceiling, 2)}


def summarise(results: dict) -> str:
    """The markdown report."""
    m = results["machine"]
    rows = []
    for name, data in results["services"].items():
        verdict = "yes" if data["ratio"] <= TARGET_RATIO else "**no**"
        rows.append([name, f"{data['first_200_median_s'] * 1000:.0f}", f"{min(data['first_200_s']) * 1000:.0f}",
                     f"{max(data['first_200_s']) * 1000:.0f}", f"{data['trivial_median_s'] * 1000:.0f}",
                     f"**{data['ratio']:.2f}×**", verdict, f"{data['import_median_s'] * 1000:.0f}"])
    lines = [
        "# Cold start per service",
        "",
        f"Measured {m['when']} on {m['cpus']} CPUs, Python {m['python']}. Each service started as "
        f"`python -m run` with IOT_SERVICE and PORT set (its Cloud Run command), pinned to CPU {SERVICE_CPU} "
        f"(one vCPU), against the local emulators; /healthz polled every {POLL_INTERVAL * 1000:g} ms from "
        f"another CPU. Median of {results['runs']} starts after one uncounted warm-up start. After each start of a "
        "service, the same start of the ceiling: `loadtests/trivial_app.py`, one Flask route under the same runner "
        "(`run.server`'s gunicorn with the service's options; gateway-mqtt, an asyncio server, against "
        f"gateway-http's), with the same environment and CPU. Target: at most {TARGET_RATIO:g}× the ceiling "
        "(a miss is reported, not failed: the ratio, not the milliseconds, says what the code costs). Import time: "
        "`importlib.import_module` of the service module in a fresh interpreter (median of the same count). "
        f"Load average (1, 5, 15 min) before: {results['load_average_before']}, after: "
        f"{results['load_average_after']} (the machine is shared: other runs add noise).",
        "",
        table(["service", "first 200 median ms", "min ms", "max ms", "trivial app median ms", "ratio",
               f"≤ {TARGET_RATIO:g}×", "service module import ms"], rows),
        *_first_reading_lines(results),
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


def _first_reading_lines(results: dict) -> list[str]:
    reading = results.get("first_reading")
    if not reading:
        return []
    return [f"A device's first request: gateway-http from process start to its first accepted reading (`POST /`, one "
            f"reading of a seeded device, a 200 only once Pub/Sub confirmed), median "
            f"{reading['first_reading_median_s'] * 1000:.0f} ms, **{reading['ratio']:.2f}×** the trivial app's first "
            f"`POST /` ({reading['trivial_median_s'] * 1000:.0f} ms). It includes what /healthz no longer waits for: "
            "the Firestore and Pub/Sub SDKs and clients the gateway builds on its first reading.", ""]


def plot(results: dict) -> None:
    """A bar chart: median time to first 200 of each service beside the trivial app's, the ratio above each pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["services"])
    first = [results["services"][n]["first_200_median_s"] * 1000 for n in names]
    trivial = [results["services"][n]["trivial_median_s"] * 1000 for n in names]
    positions = range(len(names))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.bar([p - 0.2 for p in positions], first, width=0.4, label="service: process start → first 200 (median)")
    ax.bar([p + 0.2 for p in positions], trivial, width=0.4, color="tab:gray",
           label="trivial Flask app, started the same way (median)")
    for position, name, height in zip(positions, names, first):
        ratio = results["services"][name]["ratio"]
        ax.annotate(f"{ratio:.2f}×", (position, height), ha="center", va="bottom", fontsize="small",
                    color="tab:red" if ratio > TARGET_RATIO else "black")
    ax.set_xticks(list(positions), names, rotation=30, ha="right")
    ax.set_ylabel("ms")
    ax.set_ylim(0, max([*first, *trivial]) * 1.3)
    ax.set_title(f"Cold start per service against a trivial app (target ≤ {TARGET_RATIO:g}×; "
                 f"{results['machine']['cpus']} CPUs, service pinned to one)")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(RESULTS / "cold_start.png", dpi=120)
    plt.close(fig)


def misses(results: dict) -> list[str]:
    """The services slower than ``TARGET_RATIO`` times the trivial app."""
    return [name for name, data in results["services"].items() if data["ratio"] > TARGET_RATIO]


def main(argv: list[str] | None = None) -> int:
    """Measure, then write results/cold_start.{json,md,png}. A miss of the target is reported, not an error: the
    benchmark fails only when it cannot measure."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("services", nargs="*", metavar="service", help="services to measure (default: all)")
    parser.add_argument("--runs", type=int, default=7, help="starts per service and per ceiling (median reported)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    unknown = sorted(set(args.services) - set(BY_NAME))
    if unknown:
        parser.error(f"unknown service(s): {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    results = measure(args.services or [s.name for s in SERVICES], args.runs)
    write_results("cold_start", results, summarise(results))
    plot(results)
    slow = misses(results)
    if slow:
        logger.warning("above %g× the trivial app: %s (reported in results/cold_start.md)", TARGET_RATIO,
                       ", ".join(slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
