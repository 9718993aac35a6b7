"""Sensor-creation burst against a running ``make dev``: many sensors created at once by concurrent clients.

The original platform's Cloud Run deployment managed 664 sensor creations in a 5-minute sprint at 69 % success
(WoSC'22 thesis, Sensors-Add): each creation provisioned a Kafka topic, an Elasticsearch index and a Connect job.
Here a sensor is one Firestore transaction. This creates one user and one device, then ``--sensors`` sensors
from ``--concurrency`` threads, each with its own connection, and reports the success rate, sensors/s and
latency percentiles. Results go to ``loadtests/results/sensor_burst.{json,md}``.

    python -m loadtests.sensor_burst                      # against make dev on 8080, admin password from .local
    python -m loadtests.sensor_burst --base-url http://127.0.0.1:18080 --data-dir /tmp/dev
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from infra.wiring.admin import ADMIN_PASSWORD_FILE
from emulators.api_client import ApiClient, ApiError
from infra.config import ROOT

RESULTS = ROOT / "loadtests" / "results"
ORIGINAL = {"deployment": "original on Cloud Run (GCR), Sensors-Add sprint", "requests": 664,
            "duration_s": 300, "success_rate": 0.69, "avg_latency_ms": 22_000, "p95_latency_ms": 60_000,
            "source": "shared/reference/anchors.md §1.3 (thesis Sensors-Add, sprint 5 min)"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.sensor_burst", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--sensors", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--admin-username", default=os.environ.get("IOT_ADMIN_USERNAME", "root"))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("IOT_DATA_DIR", ROOT / ".local")),
                        help="where make dev keeps the generated admin password (IOT_ADMIN_PASSWORD wins)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    password = os.environ.get("IOT_ADMIN_PASSWORD") or _read_password(args.data_dir)
    report = run_burst(args.base_url, args.admin_username, password, args.sensors, args.concurrency)
    write_results(report, args.out)
    print(render_markdown(report))
    return 0 if report["failed"] == 0 else 1


def run_burst(base_url: str, admin_username: str, admin_password: str, sensors: int, concurrency: int) -> dict:
    """Create a user and a device, then ``sensors`` sensors from ``concurrency`` threads; return the figures."""
    admin = ApiClient(base_url)
    admin.signin(admin_username, admin_password)
    username = f"burst{secrets.token_hex(4)}"
    user_password = secrets.token_urlsafe(16)
    admin.create_user(username, user_password, name="Sensor burst")
    owner = ApiClient(base_url)
    owner.signin(username, user_password)
    device = owner.create_device("burst device", "sensor creation burst")

    local = threading.local()

    def create(index: int) -> tuple[float, str | None]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = ApiClient(base_url, owner.token)  # one connection per thread
        started = time.perf_counter()
        try:
            client.create_sensor(device["id"], f"sensor {index}", {"type": "double"},
                                 path=[f"group {index % 10}"])
            error = None
        except ApiError as exc:
            error = f"{exc.status} {exc.code}"
        except Exception as exc:  # a transport failure counts as a failed creation, like the original's
            error = type(exc).__name__
        return (time.perf_counter() - started) * 1000, error

    latencies, errors = [], Counter()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool, tqdm(total=sensors, unit="sensor", desc="creating") as bar:
        for future in as_completed([pool.submit(create, i) for i in range(sensors)]):
            latency, error = future.result()
            latencies.append(latency)
            if error:
                errors[error] += 1
            bar.update()
    duration = time.perf_counter() - started

    listed = len(owner.list_sensors(device["id"]))
    succeeded = sensors - sum(errors.values())
    ordered = sorted(latencies)
    return {
        "benchmark": "sensor_burst",
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base_url": base_url,
        "sensors": sensors,
        "concurrency": concurrency,
        "succeeded": succeeded,
        "failed": sensors - succeeded,
        "errors": dict(errors),
        "listed_after": listed,
        "success_rate": succeeded / sensors,
        "duration_s": round(duration, 3),
        "sensors_per_s": round(succeeded / duration, 1),
        "latency_ms": {"p50": _percentile(ordered, 50), "p95": _percentile(ordered, 95),
                       "p99": _percentile(ordered, 99), "max": round(ordered[-1], 1),
                       "mean": round(sum(ordered) / len(ordered), 1)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "setup": "make dev: composed API under gunicorn (1 worker, 16 threads) on the Firestore emulator",
        "original": ORIGINAL,
    }


def write_results(report: dict, out: Path) -> None:
    """Write ``sensor_burst.json`` and ``sensor_burst.md`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "sensor_burst.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "sensor_burst.md").write_text(render_markdown(report))


def render_markdown(report: dict) -> str:
    """The results as a short markdown report next to the original's figures."""
    latency, original = report["latency_ms"], report["original"]
    original_rate = original["requests"] * original["success_rate"] / original["duration_s"]
    original_latency = f"avg {original['avg_latency_ms'] / 1000:.0f} s / p95 {original['p95_latency_ms'] / 1000:.0f} s"
    failures = f"{report['failed']} {report['errors'] or ''}".strip()
    return f"""# Sensor creation burst

{report['sensors']} sensor creations on one device from {report['concurrency']} concurrent clients, {report['at']}.
Setup: {report['setup']}; {report['machine']['cpus']} CPUs, Python {report['machine']['python']}.

| | this platform (local) | {original['deployment']} |
|---|---|---|
| creations | {report['sensors']} | {original['requests']} |
| success rate | {report['success_rate']:.1%} | {original['success_rate']:.0%} |
| successful creations per second | {report['sensors_per_s']} | {original_rate:.1f} |
| latency p50 / p95 | {latency['p50']} / {latency['p95']} ms | {original_latency} |
| latency p99 / max | {latency['p99']} / {latency['max']} ms | |

Failures: {failures}; sensors listed on the device afterwards: {report['listed_after']}.
The original's figures come from {original['source']}; they were measured on Cloud Run against a real
Kafka/Elasticsearch back end, ours locally against the Firestore emulator, so compare the shape (every creation
succeeds, in milliseconds) rather than the absolute rate.
"""


def _percentile(ordered: list[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 1)


def _read_password(data_dir: Path) -> str:
    path = data_dir / ADMIN_PASSWORD_FILE
    try:
        return path.read_text().strip()
    except OSError:
        sys.exit(f"no admin password: set IOT_ADMIN_PASSWORD or run make dev first (looked for {path})")


if __name__ == "__main__":
    sys.exit(main())
