"""Rule evaluation throughput: readings/s through the rules service's ``POST /pubsub/push`` with 1, 10 and 100 rules
per sensor, beside the pipeline's indexing rate measured in the same run on the same messages.

Each request is a push envelope of 100 readings of one sensor (of ``SENSORS``), as a gateway publishes a 100-record
request; every body is distinct and its readings are later than the previous body's for that sensor, so each is
evaluated, not skipped as late. The rules are thresholds that do not fire: what is measured is the evaluation path
(the rules lookup, cached per instance, one Firestore transaction per 100 rules reading and writing their states),
not alert delivery. Rule states live in Google's Firestore emulator, whose own cost is part of the figure; each
service runs one gunicorn worker (16 threads) pinned to CPU 0, wrk on CPU 1, the emulators and the stand-in unpinned.
Run ``python -m loadtests.rules_throughput``; writes results/rules_throughput.{json,md,png}.
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
from pathlib import Path

import orjson
import requests
from google.cloud import firestore

from emulators.stack import LocalStack, Ports
from infra.domain.rules import NS, Rule
from infra.domain.telemetry import format_timestamp
from loadtests.harness import RESULTS, machine, python_module, serve, table, write_results
from loadtests.pipeline_throughput import CONNECTIONS, RECORDS, run_wrk_bodies

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP = 3
BODIES = 4000  # distinct requests per run, more than a run sends
SENSORS = 64
WARM_BODIES = 4 * SENSORS  # earlier readings the warm-up sends
RULE_COUNTS = (1, 10, 100)
BASE_NS = time.time_ns() - 3600 * NS  # an hour ago: readings inside the gateways' bounds, as in production
SERVICE_CPU = "0"


def push_body(batch: int, prefix: str) -> bytes:
    """Message ``batch``: 100 readings of sensor ``batch % SENSORS``, later than its previous message's."""
    sensor = f"{prefix}{batch % SENSORS}"
    first = BASE_NS + (batch // SENSORS) * RECORDS * NS
    records = [{"sensor_id": sensor, "type": "double", "timestamp": format_timestamp(first + i * NS),
                "value": 20.0 + (i % 10)} for i in range(RECORDS)]
    data = {"device_id": "bench-device", "owner_id": "bench-owner", "received_at": format_timestamp(first),
            "gateway": "http", "records": records}
    return orjson.dumps({"message": {"data": base64.b64encode(orjson.dumps(data)).decode(),
                                     "attributes": {"schema": "telemetry/v1", "device_id": "bench-device",
                                                    "owner_id": "bench-owner", "gateway": "http"},
                                     "messageId": f"{prefix}{batch}", "publishTime": format_timestamp(first)},
                         "subscription": "projects/iot-local/subscriptions/telemetry-rules"})


def seed_rules(db: firestore.Client, prefix: str, per_sensor: int) -> None:
    """``per_sensor`` threshold rules (above 10^9: they never fire) on each sensor of ``prefix``."""
    batch, pending = db.batch(), 0
    for s in range(SENSORS):
        for r in range(per_sensor):
            rule = Rule(id=f"{prefix}{s}x{r}", owner_id="bench-owner", sensor_id=f"{prefix}{s}",
                        device_id="bench-device", name="bench", kind="threshold", operator="above", value=1e9)
            batch.set(db.collection("rules").document(rule.id), {**vars(rule), "secret": "bench"})
            pending += 1
            if pending == 400:
                batch.commit()
                batch, pending = db.batch(), 0
    if pending:
        batch.commit()


def measure(url: str, prefix: str) -> dict:
    """Warm the service on earlier readings of every sensor (each instance caches its sensors' rules), then run.

    The warm-up's readings precede the run's: readings later than the run's would make it skip them all as late.
    """
    warm = [push_body(b, prefix) for b in range(-WARM_BODIES, 0)]
    for body in warm[-SENSORS:]:
        requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    run_wrk_bodies(url, warm, "application/json", WARMUP)
    bodies = [push_body(b, prefix) for b in range(BODIES)]
    run = run_wrk_bodies(url, bodies, "application/json", SECONDS)
    run["readings_per_second"] = run["requests_per_second"] * RECORDS
    return run


def main() -> dict:
    stack = LocalStack(Path(tempfile.mkdtemp(prefix="bench-rules-")), Ports.free())
    results: dict = {"machine": machine(), "seconds": SECONDS, "readings_per_request": RECORDS,
                     "sensors": SENSORS, "runs": {}}
    try:
        stack.start_backends()
        stack.bootstrap()
        env = {**os.environ, **stack.env(), "IOT_SERVICE": "rules"}
        db = firestore.Client(project=stack.project)
        for count in RULE_COUNTS:
            prefix = f"r{count}s"
            seed_rules(db, prefix, count)
            port = stack.ports.for_process(f"rules-{count}")
            process = serve(python_module("run", "rules"), {**env, "PORT": str(port)}, port,
                            stack.log_dir / f"rules-{count}.log", cpus=SERVICE_CPU)
            try:
                results["runs"][f"rules, {count} per sensor"] = measure(f"http://127.0.0.1:{port}/pubsub/push", prefix)
            finally:
                process.stop()
        port = stack.ports.for_process("bench-pipeline")
        process = serve(python_module("run", "pipeline"), {**env, "IOT_SERVICE": "pipeline", "PORT": str(port)}, port,
                        stack.log_dir / "pipeline.log", cpus=SERVICE_CPU)
        try:
            results["runs"]["pipeline (indexing)"] = measure(f"http://127.0.0.1:{port}/pubsub/push", "p")
        finally:
            process.stop()
        db.close()
    finally:
        stack.stop()
    summarise(results)
    return results


def summarise(results: dict) -> None:
    pipeline = results["runs"]["pipeline (indexing)"]["readings_per_second"]
    rows = []
    for name, run in results["runs"].items():
        run["ratio_to_pipeline"] = run["readings_per_second"] / pipeline if pipeline else None
        rows.append([name, f"{run['requests_per_second']:.0f}", f"{run['readings_per_second']:.0f}",
                     f"{run['ratio_to_pipeline']:.0%}", f"{run['p50_ms']:.1f}", f"{run['p95_ms']:.1f}",
                     run["non_2xx"] + run["errors"]])
    m = results["machine"]
    markdown = (
        "# Rule evaluation throughput, beside the pipeline's indexing rate\n\n"
        f"Measured {m['when']} on {m['cpus']} CPUs, Python {m['python']}. One gunicorn gthread worker (16 threads) "
        f"pinned to CPU 0 per service, wrk ({CONNECTIONS} connections, closed loop, {results['seconds']} s after a "
        "warm-up) on CPU 1, Google's Firestore and Pub/Sub emulators and the Elasticsearch stand-in unpinned. Each "
        "request is "
        f"a push envelope of {RECORDS} readings of one of {results['sensors']} sensors; every sensor carries 1, 10 "
        "or 100 threshold rules that never fire, so the figure is the evaluation path: the cached rules lookup and "
        "one Firestore transaction per 100 rules (read their states, evaluate, write them back). The pipeline "
        "indexes the same kind of messages in the same run.\n\n"
        + table(["service", "req/s", "readings/s", "vs pipeline", "p50 ms", "p95 ms", "failed"], rows)
        + "\nwrk is closed-loop: latencies are at saturation, and `failed` counts requests it gave up on after its "
        "2 s timeout (Pub/Sub would have redelivered them). Rule states live in the Firestore emulator, "
        "a single Java process far slower per transaction than Firestore itself, so the figures bound the service "
        "from below; they scale with instances (Cloud Run), each sensor's rules being one transaction.\n"
        "\n![Rule evaluation throughput](rules_throughput.png)\n")
    write_results("rules_throughput", results, markdown)
    plot(results)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["runs"])
    values = [results["runs"][n]["readings_per_second"] for n in names]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(names, values, color=["#1a73e8"] * (len(names) - 1) + ["#999999"])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values])
    ax.set_ylabel("readings/s per worker")
    ax.set_title("Rule evaluation vs indexing (higher is better)")
    fig.tight_layout()
    fig.savefig(RESULTS / "rules_throughput.png", dpi=110)


if __name__ == "__main__":
    main()
