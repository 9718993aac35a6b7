"""Measure the stand-in: bulk indexing rate and term+range+sort query latency over a large index.

``python -m emulators.elastic.bench [--docs 1000000] [--sensors 1000] [--batch 5000] [--data PATH]`` starts
a stand-in, bulk-loads telemetry-shaped documents (pre-serialized NDJSON, so the figure is the server's),
then times typical platform queries. Prints one JSON object per measurement.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
import time
import urllib.request
from urllib.parse import urlsplit

import orjson

from .launcher import start

BASE_NS = 1_714_521_600 * 10**9  # 2024-05-01T00:00:00Z


class _Conn:
    """One kept-alive connection, as the official client uses (a new connection per request costs ~2 ms)."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)

    def post(self, path: str, body: bytes, content_type: str = "application/json") -> dict:
        self.conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{path}: {resp.status} {data[:300]!r}")
        return orjson.loads(data)


def _iso(ns: int) -> str:
    secs, frac = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def _bulk_body(index: str, start: int, count: int, sensors: int) -> bytes:
    lines = []
    for i in range(start, start + count):
        sensor = f"s{i % sensors}"
        ts = BASE_NS + i * 1_000_003  # about 1000 readings a second, nanosecond-distinct
        lines.append(orjson.dumps({"index": {"_index": index, "_id": f"{sensor}:{ts}"}}))
        lines.append(orjson.dumps({"@timestamp": _iso(ts), "device_id": f"d{i % (sensors // 4 or 1)}",
                                   "sensor_id": sensor, "owner_id": "u1", "value": (i % 1000) / 10}))
    return b"\n".join(lines) + b"\n"


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--data", default=None, help="journal path (default: a temporary file)")
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    data = args.data or tempfile.mkdtemp(prefix="es-bench-") + "/journal.jsonl"
    standin = start(0, data)
    url = standin.url
    try:
        template = {"index_patterns": ["bench-*"], "priority": 1, "template": {"mappings": {"properties": {
            "@timestamp": {"type": "date_nanos"}, "device_id": {"type": "keyword"},
            "sensor_id": {"type": "keyword"}, "owner_id": {"type": "keyword"}, "value": {"type": "double"}}}}}
        req = urllib.request.Request(f"{url}/_index_template/bench", data=orjson.dumps(template), method="PUT",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
        bodies = [(_bulk_body("bench-2024.05", s, min(args.batch, args.docs - s), args.sensors))
                  for s in range(0, args.docs, args.batch)]
        conn = _Conn(url)
        first_100k = None
        started = time.perf_counter()
        done = 0
        for body in bodies:
            resp = conn.post("/_bulk", body, "application/x-ndjson")
            assert not resp["errors"], resp["items"][:1]
            done += len(resp["items"])
            if first_100k is None and done >= 100_000:
                first_100k = time.perf_counter() - started
        elapsed = time.perf_counter() - started
        print(orjson.dumps({"measure": "bulk", "docs": done, "batch": args.batch, "seconds": round(elapsed, 2),
                            "docs_per_s": round(done / elapsed),
                            "first_100k_docs_per_s": round(100_000 / first_100k) if first_100k else None,
                            "journal": data}).decode())
        span_ns = args.docs * 1_000_003

        def window(lo: int) -> dict:
            return {"range": {"@timestamp": {"gte": _iso(lo), "lt": _iso(lo + span_ns // 4)}}}

        queries = {
            "term+range+sort desc, size 100": lambda s, lo: {
                "size": 100, "sort": [{"@timestamp": "desc"}],
                "query": {"bool": {"filter": [{"term": {"sensor_id": s}}, window(lo)]}}},
            "range+sort desc (no term), size 100": lambda s, lo: {
                "size": 100, "sort": [{"@timestamp": "desc"}],
                "query": window(lo)},
            "term+range date_histogram 1m avg, size 0": lambda s, lo: {
                "size": 0, "query": {"bool": {"filter": [{"term": {"sensor_id": s}}, window(lo)]}},
                "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"},
                               "aggs": {"v": {"avg": {"field": "value"}}}}}},
            "count term": lambda s, lo: {"query": {"term": {"sensor_id": s}}},
        }
        for label, build in queries.items():
            endpoint = "_count" if label.startswith("count") else "_search"
            times = []
            for q in range(args.queries):
                sensor = f"s{(q * 37) % args.sensors}"
                lo = BASE_NS + (q * span_ns // (args.queries * 2))
                t0 = time.perf_counter()
                conn.post(f"/bench-*/{endpoint}", orjson.dumps(build(sensor, lo)))
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            print(orjson.dumps({"measure": label, "docs": args.docs, "sensors": args.sensors,
                                "p50_ms": round(statistics.median(times), 2),
                                "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
                                "max_ms": round(times[-1], 2)}).decode())
        print(orjson.dumps({"measure": "memory", "docs": args.docs, "rss_mb": _rss_mb(standin.pid)}).decode())
        standin.stop()
        t0 = time.perf_counter()
        again = start(0, data, timeout=600)
        print(orjson.dumps({"measure": "restart (replay journal)", "docs": args.docs,
                            "seconds": round(time.perf_counter() - t0, 2)}).decode())
        standin = again
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
