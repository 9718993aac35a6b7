"""HTTP ingest benchmark: gateway-http against a trivial Flask endpoint under the same gunicorn settings.

Both servers run one worker pinned to CPU 0 (one Cloud Run vCPU), wrk runs on CPU 1, one server at a time;
single-record and 100-record requests, each after a warm-up. Writes results/http_ingest.{json,md,png}.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import orjson

from emulators.stack import LocalStack, Ports
from infra.domain.claims import DEVICE
from loadtests.harness import (RESULTS, machine, python_module, run_wrk, serve, table, write_results)
from loadtests.seeding import seed_device, signing_issuer

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP = 3


def bodies(sensor_ids: list[str]) -> dict[str, bytes]:
    """One record, and 100 records spread over the device's sensors."""
    base = time.time_ns() // 1_000_000 - 100  # ms, recent: readings older than IOT_READING_MAX_AGE_DAYS are refused
    batch = [{"sensor_id": sensor_ids[i % len(sensor_ids)], "timestamp": base + i, "value": 20.0 + i / 10}
             for i in range(100)]
    return {"1 record": orjson.dumps(batch[0]), "100 records": orjson.dumps(batch)}


def measure(url: str, body: bytes, headers: dict[str, str]) -> dict:
    run_wrk(url, body=body, headers=headers, seconds=WARMUP)
    return vars(run_wrk(url, body=body, headers=headers, seconds=SECONDS))


def main() -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    stack = LocalStack(data_dir, Ports.free())
    results: dict = {"machine": machine(), "seconds": SECONDS, "runs": {}}
    try:
        stack.start_backends(elasticsearch=False)
        from google.cloud import pubsub_v1

        pubsub_v1.PublisherClient().create_topic(name=f"projects/{stack.project}/topics/telemetry")
        issuer = signing_issuer(stack.settings())
        device_id, owner_id, sensors = seed_device(stack.settings(), {f"s{i}": "double" for i in range(10)})
        token = issuer.issue(DEVICE, device_id, version=1)
        env = {**os.environ, **stack.env(), "IOT_INGEST_RATE": "1000000", "IOT_INGEST_BURST": "1000000"}
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

        servers = {"trivial flask": python_module("loadtests.trivial_app", str(stack.ports.gateway_http)),
                   "gateway-http": python_module("run", "gateway-http")}
        for server, argv in servers.items():
            process = serve(argv, {**env, "PORT": str(stack.ports.gateway_http)}, stack.ports.gateway_http,
                            data_dir / f"{server}.log")
            try:
                for label, body in bodies(list(sensors.values())).items():
                    results["runs"][f"{server} / {label}"] = measure(
                        f"http://127.0.0.1:{stack.ports.gateway_http}/", body, headers)
            finally:
                process.stop()
    finally:
        stack.stop()
    summarise(results)
    return results


def summarise(results: dict) -> None:
    runs = results["runs"]
    rows, ratios = [], {}
    for label, records in (("1 record", 1), ("100 records", 100)):
        ceiling, gateway = runs[f"trivial flask / {label}"], runs[f"gateway-http / {label}"]
        ratio = gateway["requests_per_second"] / ceiling["requests_per_second"]
        ratios[label] = ratio
        for name, run in (("trivial flask", ceiling), ("gateway-http", gateway)):
            rows.append([name, label, f"{run['requests_per_second']:.0f}",
                         f"{run['requests_per_second'] * records:.0f}", f"{run['p50_ms']:.1f}",
                         f"{run['p95_ms']:.1f}", f"{run['p99_ms']:.1f}", run["non_2xx"] + run["errors"]])
    results["ratios"] = ratios
    results["records_per_second_100"] = runs["gateway-http / 100 records"]["requests_per_second"] * 100
    markdown = (
        "# HTTP ingest: gateway-http against the framework ceiling\n\n"
        f"Measured {results['machine']['when']} on {results['machine']['cpus']} CPUs, Python "
        f"{results['machine']['python']}. One gunicorn gthread worker (the gateway's settings, 64 threads) pinned "
        f"to CPU 0, wrk (64 connections, {results['seconds']} s after a warm-up) on CPU 1; the Pub/Sub emulator "
        "runs unpinned. The gateway verifies the device token (cached), checks the device's sensors (cached), "
        "validates and normalises every record and answers only after Pub/Sub confirmed the message.\n\n"
        + table(["server", "body", "req/s", "records/s", "p50 ms", "p95 ms", "p99 ms", "failed"], rows)
        + f"\nGateway / ceiling: **{ratios['1 record']:.0%}** with single records (target ≥ 50 %), "
        f"**{ratios['100 records']:.0%}** with 100-record batches; "
        f"**{results['records_per_second_100']:.0f} records/s** per worker with batches (target ≥ 20,000).\n"
        "wrk is closed-loop: latencies are at saturation (64 requests in flight), not service-level latencies.\n"
        "\n![HTTP ingest](http_ingest.png)\n")
    write_results("http_ingest", results, markdown)
    plot(results)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (label, records) in zip(axes, (("1 record", 1), ("100 records", 100))):
        names = ["trivial flask", "gateway-http"]
        values = [runs[f"{n} / {label}"]["requests_per_second"] * records for n in names]
        bars = ax.bar(names, values, color=["#999999", "#1a73e8"])
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values])
        ax.set_title(f"{label} per request")
        ax.set_ylabel("records/s" if records > 1 else "requests/s")
    fig.suptitle("HTTP ingest on one pinned worker (higher is better)")
    fig.tight_layout()
    fig.savefig(RESULTS / "http_ingest.png", dpi=110)


if __name__ == "__main__":
    main()
