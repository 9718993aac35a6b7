"""The paper's k6 workloads as a Locust locustfile: one mixed user and the linear, random and spike shapes.

The thesis (anchors.md §1.1) ran each endpoint alone with k6 for 30 minutes. Here one ``PaperUser`` mixes the
paper's eight endpoints (plus our time-range data API), each named after the paper's endpoint in Locust's stats,
and the shapes replay the paper's virtual-user curves ``COMPRESSION`` times faster. Every user acts for one
seeded account (users × devices × sensors as in the paper, from a JSON file that ``loadtests.paper_shapes``
writes) and picks a random device of it per request; a user pauses ``THINK_TIME`` after every request.

Run by ``python -m loadtests.paper_shapes`` through ``run`` below (Locust's library API, in a process of its own
so gevent's monkey-patching stays out of the stack's process). By hand, against any running platform, with a seed
file from ``python -m loadtests.tenant seed`` (the API's URL is the seed's unless PAPER_API_URL says otherwise):

    PAPER_SEED=seed.json locust -f loadtests/locustfile_paper.py --class-picker             # web UI, pick a shape
    PAPER_SEED=seed.json PAPER_SHAPE=spike locust -f loadtests/locustfile_paper.py --headless --csv spike

(``--class-picker`` lets the web UI choose the shape; without it Locust takes the first, linear. Headless, Locust
cannot be told a shape, so ``PAPER_SHAPE`` leaves only that one in this file. ``BENCH_COMPRESSION=1`` runs the
paper's 30 minutes in real time.)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import time

from locust import FastHttpUser, LoadTestShape, constant, task

from loadtests.paper_shapes import COMPRESSION, ROUTES, THINK_TIME, WAYPOINTS, WEIGHTS, users_at


class PaperShape(LoadTestShape):
    """A paper workload, time-compressed: the user count follows the waypoints, re-aimed every second."""

    abstract = True
    waypoints: list[tuple[float, float]] = []

    @property
    def duration(self) -> float:
        return self.waypoints[-1][0] / COMPRESSION

    def tick(self):
        run_time = self.get_run_time()
        if run_time > self.duration:
            return None
        # A high spawn rate, so the spike's jump (10 → 100 users) happens within a second, as in k6.
        return round(users_at(self.waypoints, run_time * COMPRESSION)), 100


# PAPER_SHAPE=NAME leaves only that shape to Locust (a headless run cannot pick one); unset, all three are offered.
CHOSEN = os.environ.get("PAPER_SHAPE") or None
if CHOSEN not in (None, *WAYPOINTS):
    raise SystemExit(f"PAPER_SHAPE must be one of {', '.join(WAYPOINTS)}, not {CHOSEN!r}")


def _hidden(name: str) -> bool:
    """True when PAPER_SHAPE names another shape (Locust skips abstract shape classes)."""
    return CHOSEN not in (None, name)


class LinearShape(PaperShape):
    """0 → 100 users over the whole run."""

    abstract = _hidden("linear")
    waypoints = WAYPOINTS["linear"]


class RandomShape(PaperShape):
    """60, 30, 100, 40, 0 users at 7, 14, 21, 28, 30 paper minutes."""

    abstract = _hidden("random")
    waypoints = WAYPOINTS["random"]


class SpikeShape(PaperShape):
    """10 users, 100 for two paper minutes (14–16), 10 again, then 0."""

    abstract = _hidden("spike")
    waypoints = WAYPOINTS["spike"]


SHAPES = {"linear": LinearShape, "random": RandomShape, "spike": SpikeShape}

_seed: dict | None = None
_accounts = itertools.count()


def seed() -> dict:
    """The seeded accounts (``PAPER_SEED`` names the JSON file), read once per process."""
    global _seed
    if _seed is None:
        with open(os.environ["PAPER_SEED"]) as f:
            _seed = json.load(f)
    return _seed


def api_url() -> str:
    """The API under test: PAPER_API_URL, else the seed file's, else the local stack's."""
    if os.environ.get("PAPER_API_URL"):
        return os.environ["PAPER_API_URL"]
    if os.environ.get("PAPER_SEED"):
        return seed()["api_url"]
    return "http://127.0.0.1:8080"


class PaperUser(FastHttpUser):
    """A user of one seeded account: its devices send readings, the person reads and adds things."""

    wait_time = constant(THINK_TIME)
    # The API is the host (Locust's --host overrides it); gateway requests use the seed's absolute URL.
    host = api_url()

    def on_start(self):
        data = seed()
        self.gateway = data["gateway_url"]
        self.account = data["accounts"][next(_accounts) % len(data["accounts"])]
        self.user_auth = {"Authorization": f"Bearer {self.account['token']}"}
        self.consumer_auth = {"Authorization": f"Bearer {self.account['consumer_token']}"}

    def device(self) -> dict:
        return random.choice(self.account["devices"])

    @task(WEIGHTS["HTTP-Gateway"])
    def http_gateway(self):
        device = self.device()
        self.client.post(self.gateway, name="HTTP-Gateway", headers={"Authorization": f"Bearer {device['token']}"},
                         json={"sensor_id": device["sensor_id"], "timestamp": time.time_ns() // 1_000_000,
                               "value": round(random.uniform(15, 25), 2)})

    @task(WEIGHTS["Users-Get"])
    def users_get(self):
        self.client.get("/api/users/self", name="Users-Get", headers=self.user_auth)

    @task(WEIGHTS["Sensors-Get"])
    def sensors_get(self):
        self.client.get(f"/api/devices/{self.device()['id']}/sensors", name="Sensors-Get", headers=self.user_auth)

    @task(WEIGHTS["Devices-Get"])
    def devices_get(self):
        self.client.get("/api/devices", name="Devices-Get", headers=self.user_auth)

    @task(WEIGHTS["Consumers-Consume-Get"])
    def consume_get(self):
        self.client.get(f"/api/consumers/consume/{self.device()['sensor_id']}", name="Consumers-Consume-Get",
                        headers=self.consumer_auth)

    @task(WEIGHTS["Sensors-Data-Get"])
    def sensor_data_get(self):
        self.client.get(f"/api/sensors/{self.device()['sensor_id']}/data?limit=10", name="Sensors-Data-Get",
                        headers=self.user_auth)

    @task(WEIGHTS["Devices-Add"])
    def devices_add(self):
        self.client.post("/api/devices", name="Devices-Add", headers=self.user_auth,
                         json={"name": f"load {random.getrandbits(32):08x}", "description": "paper shapes"})

    @task(WEIGHTS["Sensors-Add"])
    def sensors_add(self):
        self.client.post(f"/api/devices/{self.device()['id']}/sensors", name="Sensors-Add", headers=self.user_auth,
                         json={"name": f"load {random.getrandbits(32):08x}", "mapping": {"type": "double"}})

    @task(WEIGHTS["Users-Signin"])
    def users_signin(self):
        self.client.post("/api/users/signin", name="Users-Signin",
                         json={"username": self.account["username"], "password": self.account["password"]})


def run(shape_name: str, out: str) -> None:
    """Run one shape headless with Locust's library API; write the per-second timeline and final stats as JSON."""
    import gevent
    from locust.env import Environment
    from locust.runners import STATE_STOPPED
    from tqdm import tqdm

    shape = SHAPES[shape_name]()
    env = Environment(user_classes=[PaperUser], shape_class=shape, host=PaperUser.host)
    runner = env.create_local_runner()
    timeline = []
    started = time.monotonic()
    runner.start_shape()
    with tqdm(total=round(shape.duration), unit="s", desc=f"{shape_name:>6}", ncols=100) as bar:
        while True:
            gevent.sleep(1)
            elapsed = time.monotonic() - started
            counts = {e.name: (e.num_requests, e.num_failures) for e in env.stats.entries.values()}
            timeline.append({"t": round(elapsed, 2), "users": runner.user_count,
                             "requests": {name: c[0] for name, c in counts.items()},
                             "failures": {name: c[1] for name, c in counts.items()}})
            previous = timeline[-2]["requests"] if len(timeline) > 1 else {}
            rps = sum(counts[n][0] - previous.get(n, 0) for n in counts) / max(elapsed - (
                timeline[-2]["t"] if len(timeline) > 1 else 0), 1e-3)
            bar.set_postfix(users=runner.user_count, rps=f"{rps:.0f}")
            bar.update(min(round(elapsed), bar.total) - bar.n)
            if runner.state == STATE_STOPPED or elapsed > shape.duration + 30:
                break
    runner.quit()
    duration = time.monotonic() - started
    endpoints = {}
    for entry in env.stats.entries.values():
        endpoints[entry.name] = {
            "method": entry.method, "route": ROUTES.get(entry.name, ""), "requests": entry.num_requests,
            "failures": entry.num_failures, "avg_ms": entry.avg_response_time,
            "min_ms": entry.min_response_time or 0, "max_ms": entry.max_response_time,
            **{f"p{round(q * 100)}_ms": entry.get_response_time_percentile(q) for q in (0.5, 0.95, 0.99)}}
    total = env.stats.total
    errors = [{"name": e.name, "method": e.method, "error": str(e.error), "occurrences": e.occurrences}
              for e in env.stats.errors.values()]
    with open(out, "w") as f:
        json.dump({"shape": shape_name, "duration_s": duration, "shape_s": shape.duration,
                   "waypoints": shape.waypoints, "timeline": timeline, "endpoints": endpoints,
                   "total": {"requests": total.num_requests, "failures": total.num_failures,
                             "avg_ms": total.avg_response_time,
                             "p50_ms": total.get_response_time_percentile(0.5),
                             "p95_ms": total.get_response_time_percentile(0.95)},
                   "errors": errors}, f, indent=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.locustfile_paper", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--out", required=True, help="JSON file for the timeline and the final stats")
    args = parser.parse_args(argv)
    run(args.shape, args.out)


if __name__ == "__main__":
    main()
