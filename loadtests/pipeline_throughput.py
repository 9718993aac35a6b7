"""Pipeline throughput: records/s through ``POST /pubsub/push`` next to the stand-in's raw ``_bulk`` rate.

Both runs use the same documents' shape: push envelopes of 100 records (what a gateway publishes for a
100-record request) against the pipeline, and 100-document NDJSON bulks straight to the stand-in. The pipeline
runs one gunicorn worker (its Cloud Run settings, 16 threads) pinned to CPU 0; the stand-in and wrk share CPU 1.
Every request carries different readings (wrk cycles through pre-built bodies), so the store inserts rather
than overwrites. Run ``python -m loadtests.pipeline_throughput``; writes results/pipeline_throughput.{json,md,png}.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from pathlib import Path

import orjson
import requests

from emulators.elastic.launcher import start
from emulators.process import free_port
from infra.domain.telemetry import format_timestamp
from loadtests.harness import (RESULTS, WRK_P95_HOOK, cpu_affinity, machine, parse_wrk, python_module, serve, table,
                               write_results)

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP = 3
RECORDS = 100
BODIES = 5000  # distinct requests per run: 500k readings, more than a 10 s run sends
CONNECTIONS = 16  # the pipeline's threads
SENSORS = 200
BASE_NS = 1_764_300_000_000_000_000
PIPELINE_CPU, STANDIN_CPU, WRK_CPU = "0", 1, "1"


def records(batch: int, offset: int) -> list[dict]:
    """Readings of batch ``batch``: 100 records over 200 sensors, a distinct timestamp each."""
    out = []
    for i in range(RECORDS):
        n = batch * RECORDS + i
        out.append({"sensor_id": f"bench-{offset}-{n % SENSORS}", "type": "double",
                    "timestamp": format_timestamp(BASE_NS + n * 1_000_003), "value": 20.0 + (n % 1000) / 10})
    return out


def push_body(batch: int) -> bytes:
    """A push envelope as the emulator sends it, carrying a gateway's message."""
    data = {"device_id": "bench-device", "owner_id": "bench-owner", "received_at": format_timestamp(BASE_NS),
            "gateway": "http", "records": records(batch, 0)}
    return orjson.dumps({"message": {"data": base64.b64encode(orjson.dumps(data)).decode(),
                                     "attributes": {"device_id": "bench-device", "owner_id": "bench-owner",
                                                    "gateway": "http", "schema": "telemetry/v1"},
                                     "messageId": str(batch), "publishTime": format_timestamp(BASE_NS)},
                         "subscription": "projects/iot-local/subscriptions/telemetry-indexer"})


def bulk_body(batch: int) -> bytes:
    """The same readings as the stand-in's own NDJSON bulk (other sensor ids, so nothing is overwritten)."""
    from infra.adapters.elasticsearch import build_document

    lines = []
    for record in records(batch, 1):
        doc = build_document(record, device_id="bench-device", owner_id="bench-owner",
                             received_at=format_timestamp(BASE_NS), gateway="http")
        lines += [orjson.dumps({"index": {"_index": doc.index, "_id": doc.id}}), orjson.dumps(doc.source)]
    return b"\n".join(lines) + b"\n"


def run_wrk_bodies(url: str, bodies: list[bytes], content_type: str, seconds: int) -> dict:
    """POST ``bodies`` round-robin with wrk (closed loop, CONNECTIONS at once); return the parsed report."""
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "bodies.txt"
        # NDJSON bodies hold newlines: store each body escaped on one line and unescape in Lua.
        lines.write_bytes(b"\n".join(body.replace(b"\\", b"\\\\").replace(b"\n", b"\\n") for body in bodies))
        script = Path(tmp) / "bodies.lua"
        script.write_text(f'''
local bodies, i = {{}}, 0
for line in io.lines("{lines}") do
  bodies[#bodies + 1] = line:gsub("\\\\(.)", function(c) if c == "n" then return "\\n" end return c end)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
''' + WRK_P95_HOOK)
        out = subprocess.run([*cpu_affinity(WRK_CPU), "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
                              "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    return vars(parse_wrk(out))


def measure(url: str, bodies: list[bytes], content_type: str) -> dict:
    run_wrk_bodies(url, bodies[:200], content_type, WARMUP)
    return run_wrk_bodies(url, bodies, content_type, SECONDS)


def main() -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    standin = start(0, str(data_dir / "journal.jsonl"))
    results: dict = {"machine": machine(), "seconds": SECONDS, "records_per_request": RECORDS, "runs": {}}
    try:
        if cpu_affinity("x"):
            os.sched_setaffinity(standin.pid, {STANDIN_CPU})
        port = free_port()
        env = {**os.environ, "ELASTICSEARCH_URL": standin.url, "PORT": str(port), "IOT_DATA_DIR": str(data_dir),
               "IOT_ENV": "development", "GOOGLE_CLOUD_PROJECT": "iot-bench"}
        pipeline = serve(python_module("run", "pipeline"), env, port, data_dir / "pipeline.log", cpus=PIPELINE_CPU)
        try:
            bulks = [bulk_body(b) for b in range(BODIES)]
            results["runs"]["stand-in _bulk"] = measure(f"{standin.url}/_bulk", bulks, "application/x-ndjson")
            pushes = [push_body(b) for b in range(BODIES)]
            results["runs"]["pipeline /pubsub/push"] = measure(f"http://127.0.0.1:{port}/pubsub/push", pushes,
                                                               "application/json")
        finally:
            pipeline.stop()
        requests.post(f"{standin.url}/telemetry/_refresh", timeout=30)
        results["documents_stored"] = requests.get(f"{standin.url}/telemetry/_count", timeout=30).json()["count"]
    finally:
        standin.stop()
    summarise(results)
    return results


def summarise(results: dict) -> None:
    rows = []
    for name, run in results["runs"].items():
        run["records_per_second"] = run["requests_per_second"] * RECORDS
        rows.append([name, f"{run['requests_per_second']:.0f}", f"{run['records_per_second']:.0f}",
                     f"{run['p50_ms']:.1f}", f"{run['p95_ms']:.1f}", f"{run['p99_ms']:.1f}",
                     run["non_2xx"] + run["errors"]])
    raw, pipeline = results["runs"]["stand-in _bulk"], results["runs"]["pipeline /pubsub/push"]
    results["ratio"] = pipeline["records_per_second"] / raw["records_per_second"]
    m = results["machine"]
    markdown = (
        "# Pipeline throughput: push envelopes against the stand-in's raw bulk rate\n\n"
        f"Measured {m['when']} on {m['cpus']} CPUs, Python {m['python']}. The pipeline runs one gunicorn gthread "
        f"worker (16 threads, its Cloud Run settings) pinned to CPU 0; the Elasticsearch stand-in and wrk "
        f"({CONNECTIONS} connections, closed loop, {results['seconds']} s after a warm-up) share CPU 1. Each request "
        f"carries {RECORDS} readings: a Pub/Sub push envelope (base64 of a gateway's message) to the pipeline, or "
        "the same readings as a ready-made NDJSON `_bulk` straight to the stand-in. The pipeline decodes the "
        "envelope, checks every record, builds the documents and bulk-indexes them, answering 204 only after "
        "the stand-in accepted every item.\n\n"
        + table(["target", "req/s", "records/s", "p50 ms", "p95 ms", "p99 ms", "failed"], rows)
        + f"\nPipeline / raw bulk: **{results['ratio']:.0%}**; **{pipeline['records_per_second']:.0f} records/s** "
        f"through one pipeline worker. {results['documents_stored']} documents were stored by both runs.\n"
        "wrk is closed-loop: latencies are at saturation, not service-level latencies. Both runs share the "
        "stand-in, so the pipeline's figure includes the store's own cost.\n"
        "\n![Pipeline throughput](pipeline_throughput.png)\n")
    write_results("pipeline_throughput", results, markdown)
    plot(results)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["runs"])
    values = [results["runs"][n]["records_per_second"] for n in names]
    fig, ax = plt.subplots(figsize=(6, 4))
    bars = ax.bar(names, values, color=["#999999", "#1a73e8"])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values])
    ax.set_ylabel("records/s")
    ax.set_title(f"100-record requests (higher is better); ratio {results['ratio']:.0%}")
    fig.tight_layout()
    fig.savefig(RESULTS / "pipeline_throughput.png", dpi=110)


if __name__ == "__main__":
    main()
