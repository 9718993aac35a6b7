"""The paper's load shapes (linear 0→100 users, random, spike), time-compressed, in Locust against the local stack.

A private stack on free ports (Google's Pub/Sub and Firestore emulators, the Elasticsearch stand-in, the composed
API, gateway-http and the pipeline, so reads find the readings the run sends). Seeded through the API like the
thesis' data set: ``ACCOUNTS`` users × 5 devices × 1 sensor, each user with a consumer granted its sensors. Then
each shape of ``loadtests.locustfile_paper`` runs in a Locust process of its own (FastHttpUser, library API), one
after the other on the same stack, 30 paper minutes compressed to 75 s. Reported per shape and per endpoint:
requests, failures, goodput (successful requests/s), avg/p50/p95 ms, next to the thesis' Cloud Run (GCR)
figures from shared/reference/anchors.md §1.2–1.3.

Run ``python -m loadtests.paper_shapes``; writes results/paper_shapes.{json,md,png} (``--render`` rewrites the
markdown and the plot from the JSON without measuring).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulators.stack import LocalStack, Ports
from infra.wiring.admin import admin_account
from emulators.api_client import ApiClient
from loadtests import tenant
from loadtests.harness import RESULTS, ROOT, machine, table, write_results

COMPRESSION = int(os.environ.get("BENCH_COMPRESSION", "24"))  # 30 paper minutes → 75 s
PAPER_SECONDS = 1800
# Waypoints (paper seconds, virtual users), linear in between: anchors.md §1.1 and §6 (thesis §4.3).
WAYPOINTS = {
    "linear": [(0, 0), (1800, 100)],
    "random": [(0, 0), (420, 60), (840, 30), (1260, 100), (1680, 40), (1800, 0)],
    "spike": [(0, 0), (60, 10), (840, 10), (841, 100), (960, 100), (961, 10), (1740, 10), (1800, 0)],
}
# k6's pause between requests, derived from the thesis' gateway runs: 1800 s × 50 average VUs / requests − the
# average latency is ≈ 250 ms for all four deployments (e.g. GCR 1800 × 50 / 299,420 − 0.050 s = 0.251 s).
THINK_TIME = 0.25
# Our mix (the paper gives none: it ran one endpoint per run). Devices dominate, as on an IoT platform.
WEIGHTS = {"HTTP-Gateway": 41, "Users-Get": 12, "Sensors-Get": 12, "Devices-Get": 10, "Consumers-Consume-Get": 10,
           "Sensors-Data-Get": 8, "Devices-Add": 3, "Sensors-Add": 3, "Users-Signin": 1}
# What each name calls here (the paper's functions hit the original's equivalents, original-system.md §6.1).
ROUTES = {"HTTP-Gateway": "POST gateway-http /", "Users-Get": "GET /api/users/self",
          "Sensors-Get": "GET /api/devices/{id}/sensors", "Devices-Get": "GET /api/devices",
          "Consumers-Consume-Get": "GET /api/consumers/consume/{sensor_id} (consumer key)",
          "Sensors-Data-Get": "GET /api/sensors/{id}/data?limit=10", "Devices-Add": "POST /api/devices",
          "Sensors-Add": "POST /api/devices/{id}/sensors", "Users-Signin": "POST /api/users/signin"}


DESCRIPTIONS = {"linear": "0 → 100 VUs over 30 min", "random": "60, 30, 100, 40, 0 VUs at 7, 14, 21, 28, 30 min",
                "spike": "10 VUs from 1 min, 100 VUs 14–16 min, 10 until 29 min, then 0"}


def users_at(waypoints: list[tuple[float, float]], t: float) -> float:
    """Virtual users at paper time ``t``, interpolated linearly between waypoints."""
    for (t0, u0), (t1, u1) in zip(waypoints, waypoints[1:]):
        if t0 <= t <= t1:
            return u0 + (u1 - u0) * (t - t0) / (t1 - t0)
    return 0.0


ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "100"))  # the thesis: 100 users × 5 devices × 1 sensor
DEVICES = tenant.DEVICES
SEEDERS = tenant.SEEDERS
PAUSE = 5.0  # seconds between shapes (the thesis paused 15–30 min between runs)
SHAPE_ORDER = ("linear", "random", "spike")


def _gcr(avg, p95=None, *, p50=None, requests=None, failed=None, success=None, note=""):
    return {"avg_ms": avg, "p50_ms": p50, "p95_ms": p95, "requests": requests, "failed": failed,
            "success": success if success is not None else (1 - failed / requests if failed is not None else None),
            "note": note}


# The thesis' Cloud Run (GCR) figures per endpoint and workload (shared/reference/anchors.md), each endpoint
# measured alone with 100 VUs for 30 minutes: requests, failed, avg / p50 / p95 ms, success; None where not given.
PAPER = {
    "HTTP-Gateway": {"source": "§1.2 (thesis Tables 5.33–5.38)", "linear": _gcr(49.73, 108.39, p50=40.93,
                     requests=299_420, failed=9), "random": _gcr(40.88, 88.38, p50=30.89, requests=311_514, failed=4),
                     "spike": _gcr(30.98, 72.45, p50=22.47, requests=81_029, failed=0)},
    "Users-Get": {"source": "§1.3", "linear": _gcr(25.9, 38), "random": _gcr(24.3, 36), "spike": _gcr(23.9, 33)},
    "Sensors-Get": {"source": "§1.3; linear p95 original-system.md §6.2", "linear": _gcr(31.3, 53.7,
                    requests=319_046), "random": _gcr(31.5), "spike": _gcr(36.1)},
    "Devices-Get": {"source": "§1.3; linear p95 original-system.md §6.2", "linear": _gcr(28.5, 39.3),
                    "random": _gcr(28.9), "spike": _gcr(36.1, note="thesis row likely copied from Devices-Add")},
    "Consumers-Consume-Get": {"source": "§1.3; linear p95 original-system.md §6.2", "linear": _gcr(
        41.6, 86.5, success=0.709), "random": _gcr(40.2, success=0.722), "spike": _gcr(43.9)},
    "Sensors-Data-Get": {"source": "none: the original had no time-range data API"},
    "Devices-Add": {"source": "§1.3", "linear": _gcr(39.5, 74), "random": _gcr(34.2, 62), "spike": _gcr(36.1, 72)},
    "Sensors-Add": {"source": "§1.3 (5-min sprint only)", **{shape: _gcr(
        22_000, 60_000, requests=664, success=0.69, note="5-min sprint, not this shape") for shape in SHAPE_ORDER}},
    "Users-Signin": {"source": "§1.3", "linear": _gcr(381, 1420, requests=236_034),
                     "random": _gcr(243, 999, success=0.607), "spike": _gcr(257, 470)},
}
PAPER_PEAK_RPS = 350  # the gateway plot's ≈ 3,500 requests per 10 s at 100 VUs (anchors.md §1.1)


def seed_accounts(stack: LocalStack, count: int) -> dict:
    """Create ``count`` users with ``DEVICES`` devices of one sensor each, a consumer granted every sensor, keys,
    and one reading per sensor, through the API as on a deployment (loadtests/tenant.py); return the seed."""
    admin = ApiClient(stack.url("api", ""))
    account = admin_account(stack.settings())
    admin.signin(account.username, account.password)
    return tenant.seed(admin, stack.url("gateway-http"), tenant.new_tenant(), users=count, devices=DEVICES,
                       workers=SEEDERS)


def run_shape(shape: str, seed_file: Path, api_url: str, out: Path) -> dict:
    """One shape in a Locust process of its own (gevent patches everything it imports)."""
    env = {**os.environ, "PAPER_SEED": str(seed_file), "PAPER_API_URL": api_url}
    subprocess.run([sys.executable, "-m", "loadtests.locustfile_paper", "--shape", shape, "--out", str(out)],
                   cwd=ROOT, env=env, check=True)
    return json.loads(out.read_text())


def main() -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-paper-"))
    stack = LocalStack(data_dir, Ports.free())
    results: dict = {"machine": machine(), "compression": COMPRESSION, "paper_seconds": PAPER_SECONDS,
                     "think_time_s": THINK_TIME, "weights": WEIGHTS, "routes": ROUTES, "waypoints": WAYPOINTS,
                     "accounts": ACCOUNTS, "devices_per_account": DEVICES, "paper": PAPER, "shapes": {}}
    try:
        started = time.monotonic()
        stack.start_backends()
        stack.bootstrap()
        stack.start_services(("api", "gateway-http", "pipeline"))
        results["stack_start_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        seed = seed_accounts(stack, ACCOUNTS)
        results["seed_s"] = round(time.monotonic() - started, 1)
        seed_file = data_dir / "seed.json"
        seed_file.write_text(json.dumps(seed))
        for n, shape in enumerate(SHAPE_ORDER):
            if n:
                time.sleep(PAUSE)
            results["shapes"][shape] = run_shape(shape, seed_file, seed["api_url"], data_dir / f"{shape}.json")
    finally:
        stack.stop()
    summarise(results)
    return results


def per_second(run: dict) -> list[dict]:
    """The timeline as per-second rates: users, requests/s and failures/s in total and per endpoint."""
    rows, previous = [], {"t": 0.0, "requests": {}, "failures": {}}
    for point in run["timeline"]:
        span = max(point["t"] - previous["t"], 1e-3)
        rates = {name: (n - previous["requests"].get(name, 0)) / span for name, n in point["requests"].items()}
        fails = {name: (n - previous["failures"].get(name, 0)) / span for name, n in point["failures"].items()}
        rows.append({"t": point["t"], "users": point["users"], "rps": sum(rates.values()),
                     "failures_per_s": sum(fails.values()), "rps_by_endpoint": rates})
        previous = point
    return rows


def _ms(value) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.0f} s" if value >= 10_000 else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _pct(value) -> str:
    return "—" if value is None else f"{value:.1%}" if value < 0.9995 else f"{value:.2%}"


def summarise(results: dict) -> None:
    sections, headline = [], []
    for shape, run in results["shapes"].items():
        seconds = run["shape_s"]
        if "timeline" in run:  # cumulative counters; the per-second rates say the same
            run["per_second"] = [{k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()
                                  if k != "rps_by_endpoint"} for row in per_second(run)]
            del run["timeline"]
        series = run["per_second"]
        rows = []
        for name in WEIGHTS:
            ours = run["endpoints"].get(name)
            if ours is None:
                continue
            good = ours["requests"] - ours["failures"]
            ours["goodput_rps"] = good / seconds
            ours["success"] = good / ours["requests"] if ours["requests"] else None
            paper = PAPER[name].get(shape) or {}
            paper_rps = paper["requests"] / PAPER_SECONDS if paper.get("requests") and name != "Sensors-Add" else None
            rows.append([name, ours["requests"], ours["failures"], f"{ours['goodput_rps']:.1f}",
                         _pct(ours["success"]), _ms(ours["avg_ms"]), _ms(ours["p50_ms"]), _ms(ours["p95_ms"]),
                         " / ".join(_ms(paper.get(k)) for k in ("avg_ms", "p50_ms", "p95_ms")),
                         _pct(paper.get("success")), "—" if paper_rps is None else f"{paper_rps:.0f}",
                         paper.get("note", "")])
        total = run["total"]
        total["goodput_rps"] = (total["requests"] - total["failures"]) / seconds
        total["peak_rps"] = max((row["rps"] for row in series), default=0)
        rows.append(["**all**", total["requests"], total["failures"], f"**{total['goodput_rps']:.1f}**",
                     _pct(1 - total["failures"] / max(total["requests"], 1)), _ms(total["avg_ms"]),
                     _ms(total["p50_ms"]), _ms(total["p95_ms"]), "", "", "",
                     f"peak {total['peak_rps']:.0f} req/s (paper ≈ {PAPER_PEAK_RPS} at 100 VUs, one endpoint)"])
        errors = "".join(f"- {e['name']}: {e['error']} × {e['occurrences']}\n" for e in run["errors"][:8])
        gateway = run["endpoints"].get("HTTP-Gateway", {})
        paper_gateway = PAPER["HTTP-Gateway"][shape]
        headline.append(f"{shape}: {total['requests']} requests, {total['failures']} failed, goodput "
                        f"{total['goodput_rps']:.0f} req/s (peak {total['peak_rps']:.0f}); HTTP-Gateway p50/p95 "
                        f"{_ms(gateway.get('p50_ms'))}/{_ms(gateway.get('p95_ms'))} ms (paper GCR "
                        f"{_ms(paper_gateway['p50_ms'])}/{_ms(paper_gateway['p95_ms'])} ms); all endpoints p95 "
                        f"{_ms(total['p95_ms'])} ms")
        sections.append(
            f"## {shape.capitalize()}: {DESCRIPTIONS[shape]}, in {seconds:.0f} s\n\n"
            + table(["endpoint", "requests", "failed", "goodput req/s", "success", "avg ms", "p50 ms", "p95 ms",
                     "paper GCR avg / p50 / p95 ms", "paper GCR success", "paper GCR req/s", "note"], rows)
            + (f"\nFailures:\n{errors}" if errors else "\nNo failures.\n") + "\n")
    results["headline"] = headline
    m = results["machine"]
    routes = table(["endpoint (paper's name)", "weight", "called here", "paper source (anchors.md)"],
                   [[name, weight, f"`{ROUTES[name]}`", PAPER[name]["source"]] for name, weight in WEIGHTS.items()])
    markdown = (
        "# The paper's load shapes in Locust against the local stack\n\n"
        f"Measured {m['when']} on {m['cpus']} CPUs, Python {m['python']}: everything on one machine, unpinned — "
        "Google's Pub/Sub and Firestore emulators, the Elasticsearch stand-in, the composed API (one gunicorn "
        "worker), gateway-http and the pipeline (one worker each) and Locust (one process, FastHttpUser). Seeded as "
        f"in the thesis: {results['accounts']} users × {results['devices_per_account']} devices × 1 sensor, and a "
        f"consumer per user granted its sensors (seeding took {results['seed_s']:.0f} s).\n\n"
        f"**Time-compressed {results['compression']}×**: each 30-minute k6 workload of the thesis (anchors.md §1.1, "
        f"§6) runs for {PAPER_SECONDS / results['compression']:.0f} s with the same user curve; the spike's two "
        f"minutes at 100 users last {120 / results['compression']:.0f} s. The shapes run one after the other on the "
        f"same stack, {PAUSE:g} s apart (the thesis paused 15–30 min), so the data grows across them. Every virtual "
        f"user waits {results['think_time_s']:g} s after each request: k6's pause, derived from the thesis' gateway "
        "runs (1800 s × 50 average VUs / requests − the average latency ≈ 0.25 s for all four deployments), so "
        "each user offers the paper's ≈ 3.3 requests/s.\n\n"
        "**What differs from the paper.** The thesis ran each endpoint alone, 100 VUs on one endpoint, against "
        "Cloud Run (1 vCPU, ≤ 20 instances, concurrency 100) with managed MariaDB/Kafka/Elasticsearch on GKE. Here "
        "one user mixes all endpoints with the weights below, so each endpoint gets a share of the load while the "
        "whole of it lands on two cores shared by every emulator, service and Locust itself (which costs the "
        "server ~45 % of its throughput on this box, local-ceilings.md §6). Compare the shape — does latency hold "
        "as users rise, does anything fail — and the total goodput against the paper's per-endpoint rate, not the "
        "absolute milliseconds. The paper's columns are GCR, each endpoint alone, 30 minutes; requests/s = its "
        "requests / 1800 s. Our Sensors-Add is a single Firestore transaction; the paper's was a 5-minute sprint "
        "provisioning a Kafka topic, an index and a connector per sensor.\n\n"
        + "## Headline\n\n" + "".join(f"- {line}\n" for line in headline)
        + reading(results)
        + f"\nWithout any latency 100 users would offer {100 / results['think_time_s']:.0f} req/s (one request per "
        f"{results['think_time_s']:g} s each); the peak reached shows how far latency held the closed loop back.\n\n"
        + routes + "\n" + "".join(sections)
        + "Percentiles are Locust's (rounded to 2 significant digits above 100 ms). Goodput = successful requests "
        "/ the shape's duration.\n\n![Paper shapes](paper_shapes.png)\n")
    write_results("paper_shapes", results, markdown)
    plot(results)
    print("\n".join(headline))


def reading(results: dict) -> str:
    """What the figures say against the paper's, in numbers taken from this run."""
    shapes = results["shapes"]
    gateway = ", ".join(
        f"{shape} {run['endpoints']['HTTP-Gateway']['p95_ms'] / PAPER['HTTP-Gateway'][shape]['p95_ms']:.1f}×"
        for shape, run in shapes.items() if "HTTP-Gateway" in run["endpoints"])
    api = [run["endpoints"][name]["p95_ms"] for shape, run in shapes.items() if shape != "spike"
           for name in ("Users-Get", "Sensors-Get", "Devices-Get", "Consumers-Consume-Get") if name in run["endpoints"]]
    paper_api = [PAPER[name][shape]["p95_ms"] for shape in ("linear", "random")
                 for name in ("Users-Get", "Sensors-Get", "Devices-Get", "Consumers-Consume-Get")
                 if PAPER[name][shape]["p95_ms"]]
    failures = sum(run["total"]["failures"] for run in shapes.values())
    text = (f"\nHTTP-Gateway p95 here / the paper's GCR p95: {gateway}. The API reads' p95 under the linear and random "
            f"shapes is {min(api):.0f}–{max(api):.0f} ms against the paper's GCR {min(paper_api):.0f}–"
            f"{max(paper_api):.0f} ms: here one gunicorn worker of the composed API and the Firestore emulator share "
            "two cores with everything else, where each of the paper's functions had up to 20 Cloud Run instances "
            "to itself. In the spike, 90 users arrive within a second with no instance to scale out to, so every "
            "p95 rises while the median stays low. ")
    return text + ("Nothing failed in any shape.\n" if not failures else f"{failures} requests failed in all.\n")


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(15, 9))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 1.1])
    for i, (shape, run) in enumerate(results["shapes"].items()):
        ax = fig.add_subplot(grid[0, i])
        series = run["per_second"]
        t = [row["t"] for row in series]
        ax.plot(t, [row["rps"] for row in series], color="#1a73e8", label="requests/s")
        ax.plot(t, [row["failures_per_s"] for row in series], color="#d93025", label="failures/s")
        ax.set_xlabel("seconds")
        ax.set_ylabel("requests/s")
        ax.set_title(f"{shape} ({results['compression']}× compressed)")
        users = ax.twinx()
        users.plot(t, [row["users"] for row in series], color="#5f6368", linestyle="--", label="users")
        users.set_ylabel("virtual users")
        users.set_ylim(0, 110)
        if i == 0:
            ax.legend(loc="upper left", fontsize=8)
            users.legend(loc="upper right", fontsize=8)
    ax = fig.add_subplot(grid[1, :])
    names = [n for n in WEIGHTS if any(n in run["endpoints"] for run in results["shapes"].values())]
    width = 0.8 / max(len(results["shapes"]), 1)
    colours = {"linear": "#1a73e8", "random": "#f29900", "spike": "#188038"}
    for j, (shape, run) in enumerate(results["shapes"].items()):
        xs = [k + (j - 1) * width for k in range(len(names))]
        values = [run["endpoints"].get(n, {}).get("p95_ms") or 0 for n in names]
        ax.bar(xs, values, width, color=colours.get(shape), label=f"{shape}: here (p95)")
        paper = [(x, PAPER[n].get(shape, {}).get("p95_ms")) for x, n in zip(xs, names)]
        paper = [(x, v) for x, v in paper if v]
        ax.scatter([x for x, _ in paper], [v for _, v in paper], marker="_", s=300, color="black", zorder=3,
                   label="paper GCR p95 (each endpoint alone)" if j == 0 else None)
    ax.set_xticks(range(len(names)), [n + "\n(paper: 5-min sprint)" if n == "Sensors-Add" else n for n in names],
                  rotation=15)
    ax.set_yscale("log")
    ax.set_ylabel("p95 ms (log)")
    ax.set_title("p95 per endpoint: local stack (bars) against the thesis' Cloud Run runs (black)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=4)
    fig.suptitle("The paper's load shapes in Locust, all services and Locust on one 2-core machine")
    fig.tight_layout()
    fig.savefig(RESULTS / "paper_shapes.png", dpi=100)


def render() -> None:
    """Write the markdown and the plot again from results/paper_shapes.json (no measurement)."""
    summarise(json.loads((RESULTS / "paper_shapes.json").read_text()))


if __name__ == "__main__":
    render() if sys.argv[1:] == ["--render"] else main()
