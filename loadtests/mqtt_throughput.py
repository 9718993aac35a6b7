"""MQTT throughput: QoS 1 messages/s through gateway-mqtt against Mosquitto on the same machine.

One run measures both servers, one at a time, with the same clients: ``PUBLISHERS`` paho-mqtt processes of one
client each (clients sharing a process are GIL-bound, shared/reference/local-ceilings.md §5), MQTT 3.1.1, QoS 1,
at most ``WINDOW`` un-PUBACKed messages per client, all publishing the same valid reading of a seeded sensor to
``devices/<device_id>/telemetry`` with the device token as password. The server runs pinned to CPU 0, the
publishers to CPU 1. After ``WARMUP`` s, PUBACKs are counted for ``SECONDS`` s; latency runs from the
``publish()`` call to the PUBACK, and the server's CPU time comes from /proc.

Mosquitto (``/usr/sbin/mosquitto``, Debian package ``mosquitto``) gets a temporary config: one loopback
listener, anonymous clients, no persistence. gateway-mqtt runs as ``python -m run gateway-mqtt`` on the
private stack's Pub/Sub and Firestore emulators; its PUBACK waits for Pub/Sub to confirm the message.

Run ``python -m loadtests.mqtt_throughput``; writes results/mqtt_throughput.{json,md,png}.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from tqdm import tqdm

from emulators.process import ManagedProcess, free_port, wait_until
from loadtests.harness import RESULTS, ROOT, cpu_affinity, machine, python_module, serve, table, write_results

SECONDS = int(os.environ.get("BENCH_SECONDS", "12"))
WARMUP = 3
PUBLISHERS = int(os.environ.get("BENCH_MQTT_PUBLISHERS", "4"))  # on one core, 4 gave Mosquitto more than 6 or 8
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WINDOW = 20  # paho's default in-flight limit; local-ceilings §5: a bigger window adds latency, little rate
SERVER_CPU, CLIENT_CPU = "0", 1
DRAIN = 10.0  # seconds a publisher waits for its last PUBACKs after the window
TICK = 0.25  # progress and sampling interval


def mosquitto_binary() -> str:
    """Mosquitto's path: it lives in /usr/sbin, which is not on every user's PATH."""
    found = shutil.which("mosquitto", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin",
                                                            "/usr/local/sbin"]))
    if found is None:
        raise SystemExit("mosquitto not found: `make bench` installs it (apt-get install mosquitto)")
    return found


def start_mosquitto(port: int, data_dir: Path) -> ManagedProcess:
    """Mosquitto on a loopback port with the reference config, pinned like the gateway."""
    config = data_dir / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = ManagedProcess("mosquitto", [*cpu_affinity(SERVER_CPU), mosquitto_binary(), "-c", str(config)],
                             cwd=ROOT, log_path=data_dir / "mosquitto.log").start()
    wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, timeout=15,
               what=f"mosquitto on port {port}", process=process)
    return process


# --- CPU time from /proc ----------------------------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the Pub/Sub emulator is gcloud's Python wrapper and a JVM)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def pin_tree(pid: int, cpu: int) -> None:
    """Pin every thread of ``pid`` and its descendants to ``cpu`` (a JVM's threads each have their own mask)."""
    for process in process_tree(pid):
        for task in Path(f"/proc/{process}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), {cpu})
            except OSError:
                pass  # the thread has ended


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (and children they reaped)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


# --- one publisher process --------------------------------------------------------------------------------

class Publisher:
    """PUBACK bookkeeping of one client: send times by message id, latencies of PUBACKs in the window."""

    def __init__(self, index: int, acked, window: int):
        self.index, self.acked = index, acked
        self.slots = threading.Semaphore(window)
        self.lock = threading.Lock()
        self.sent: dict[int, float] = {}
        self.early: dict[int, float] = {}  # PUBACKs that beat publish() returning its message id
        self.window = (float("inf"), float("inf"))
        self.latencies: list[float] = []
        self.connected = threading.Event()
        self.disconnects = 0

    def on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            self.connected.set()

    def on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnects += 1

    def on_publish(self, client, userdata, mid, reason_code, properties):
        # paho calls this holding its own message lock: only our short lock here, never a paho call.
        now = time.monotonic()
        with self.lock:
            sent = self.sent.pop(mid, None)
            if sent is None:
                self.early[mid] = now
            else:
                self.record(sent, now)
        self.slots.release()

    def published(self, mid: int, sent: float) -> None:
        with self.lock:
            acked = self.early.pop(mid, None)
            if acked is None:
                self.sent[mid] = sent
            else:
                self.record(sent, acked)

    def record(self, sent: float, acked: float) -> None:
        self.acked[self.index] += 1
        if self.window[0] <= acked < self.window[1]:
            self.latencies.append(acked - sent)


def publish(index: int, port: int, password: str, topic: str, payload: bytes, acked, times, ready, go, out):
    """One client: connect, wait for ``go``, publish QoS 1 with a bounded window until ``times[1]``."""
    if cpu_affinity("x"):
        os.sched_setaffinity(0, {CLIENT_CPU})
    state = Publisher(index, acked, WINDOW)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{index}-{os.getpid()}",
                         protocol=mqtt.MQTTv311)
    client.username_pw_set("bench", password)
    client.max_inflight_messages_set(WINDOW)  # the semaphore already bounds it; paho must never queue
    client.on_connect, client.on_disconnect, client.on_publish = (state.on_connect, state.on_disconnect,
                                                                  state.on_publish)
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    try:
        if not state.connected.wait(15):
            out.put({"index": index, "error": "no CONNACK within 15 s"})
            return
        ready.put(index)
        go.wait()
        state.window = (times[0], times[1])
        failed = 0
        while time.monotonic() < times[1]:
            if not state.slots.acquire(timeout=1):
                continue
            sent = time.monotonic()
            info = client.publish(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                failed += 1
                state.slots.release()
                time.sleep(0.01)
                continue
            state.published(info.mid, sent)
        deadline = time.monotonic() + DRAIN
        drained = 0
        while drained < WINDOW and state.slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            drained += 1
        out.put({"index": index, "latencies": state.latencies, "unacked": WINDOW - drained,
                 "publish_failures": failed, "disconnects": state.disconnects})
    finally:
        client.disconnect()
        client.loop_stop()


# --- one measured run -------------------------------------------------------------------------------------

def measure(name: str, port: int, password: str, topic: str, payload: bytes, server_pid: int,
            others: dict[str, int]) -> dict:
    """Run the publishers against ``port``; return rate, latency and CPU of the server (and of ``others``)."""
    ctx = mp.get_context("spawn")  # the parent holds gRPC clients, which do not survive fork
    acked = ctx.Array("q", PUBLISHERS, lock=False)
    times = ctx.Array("d", 2, lock=False)
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    workers = [ctx.Process(target=publish, args=(i, port, password, topic, payload, acked, times, ready, go, out),
                           daemon=True) for i in range(PUBLISHERS)]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            ready.get(timeout=60)
        start = time.monotonic()
        times[0], times[1] = start + WARMUP, start + WARMUP + SECONDS
        watched = {"server": process_tree(server_pid), **{k: process_tree(pid) for k, pid in others.items()},
                   "publishers": [w.pid for w in workers]}
        go.set()
        samples, timeline, cpu = [], [], {}
        with tqdm(total=WARMUP + SECONDS, desc=name, unit="s", bar_format="{l_bar}{bar}| {n:.0f}/{total} s "
                  "{postfix}") as bar:
            while len(samples) < 2:
                now = time.monotonic()
                total = sum(acked)
                if not cpu and now >= times[0]:
                    cpu = {k: cpu_seconds(p) for k, p in watched.items()}
                    samples.append(now)
                elif cpu and len(samples) == 1 and now >= times[1]:
                    cpu = {k: cpu_seconds(p) - cpu[k] for k, p in watched.items()}
                    samples.append(now)
                timeline.append((round(now - start, 3), total))
                bar.n = min(now - start, WARMUP + SECONDS)
                then, before = timeline[max(0, len(timeline) - 5)]  # the rate over about the last second
                bar.set_postfix_str(f"{(total - before) / max(now - start - then, 1e-9):,.0f} msgs/s")
                boundary = times[1] if cpu else times[0]  # sample CPU on the window's edges, not a tick late
                time.sleep(min(TICK, max(0.001, boundary - time.monotonic())))
        reports = [out.get(timeout=DRAIN + 30) for _ in workers]
    finally:
        go.set()
        for worker in workers:
            worker.join(DRAIN + 10)
            if worker.is_alive():
                worker.kill()
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        raise RuntimeError(f"{name}: {errors}")
    latencies = sorted(ms * 1000 for r in reports for ms in r["latencies"])
    wall = samples[1] - samples[0]
    rate = len(latencies) / SECONDS
    return {
        "msgs_per_second": rate, "messages": len(latencies), "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99), "max_ms": latencies[-1],
        "cpu_percent": {k: 100 * seconds / wall for k, seconds in cpu.items()},
        "server_cpu_us_per_message": cpu["server"] / wall / rate * 1e6,
        "unacked_at_end": sum(r["unacked"] for r in reports),
        "publish_failures": sum(r["publish_failures"] for r in reports),
        "disconnects": sum(r["disconnects"] for r in reports),
        "timeline": timeline, "latencies_ms": latencies,
    }


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- both servers -----------------------------------------------------------------------------------------

def check_delivery(stack, port: int, password: str, topic: str, payload: bytes) -> None:
    """Before measuring: one QoS 1 publish through the gateway must arrive in Pub/Sub as a reading.

    An MQTT 3.1.1 client gets a plain PUBACK for a payload the gateway refuses, so a PUBACK alone proves nothing.
    """
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(stack.project, "mqtt-bench-check")
    subscriber.create_subscription(name=subscription, topic=f"projects/{stack.project}/topics/telemetry")
    try:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-check", protocol=mqtt.MQTTv311)
        client.username_pw_set("bench", password)
        client.connect("127.0.0.1", port)
        client.loop_start()
        try:
            client.publish(topic, payload, qos=1).wait_for_publish(15)
        finally:
            client.disconnect()
            client.loop_stop()
        received = subscriber.pull(subscription=subscription, max_messages=1, timeout=15).received_messages
        records = orjson.loads(received[0].message.data)["records"] if received else []
        if len(records) != 1:
            raise RuntimeError(f"the gateway did not forward the benchmark reading to Pub/Sub: {received}")
    finally:
        subscriber.delete_subscription(subscription=subscription)  # an unread backlog would load the emulator
        subscriber.close()


def main() -> dict:
    from google.cloud import firestore, pubsub_v1

    from emulators.stack import LocalStack, Ports
    from infra.adapters.firestore_rejections import FirestoreRejections
    from infra.domain.claims import DEVICE
    from loadtests.seeding import seed_device, signing_issuer

    data_dir = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    stack = LocalStack(data_dir, Ports.free())
    results: dict = {"machine": machine(), "load_average": os.getloadavg(), "seconds": SECONDS, "warmup": WARMUP,
                     "rounds": ROUNDS, "publishers": PUBLISHERS, "window": WINDOW, "runs": {}}
    try:
        stack.start_backends(elasticsearch=False)
        pubsub_v1.PublisherClient().create_topic(name=f"projects/{stack.project}/topics/telemetry")
        settings = stack.settings()
        device_id, owner_id, sensors = seed_device(settings, {"temperature": "double"})
        token = signing_issuer(settings).issue(DEVICE, device_id, version=1)
        topic = f"devices/{device_id}/telemetry"
        payload = orjson.dumps({"sensor_id": sensors["temperature"], "timestamp": time.time_ns() // 1_000_000,
                                "value": 21.5})
        results["payload_bytes"] = len(payload)
        emulator = next(b.process.pid for b in stack._backends if getattr(b, "name", "") == "pubsub")
        if cpu_affinity("x") and os.environ.get("BENCH_PIN_EMULATOR", "1") == "1":
            pin_tree(emulator, CLIENT_CPU)  # CPU 0 is the server's alone

        servers: dict[str, tuple[ManagedProcess, int]] = {}
        try:
            port = free_port()
            servers["mosquitto"] = (start_mosquitto(port, data_dir), port)
            results["mosquitto_version"] = version_of(servers["mosquitto"][0].log_path)
            ws_port, tcp_port = free_port(), free_port()
            env = {**os.environ, **stack.env(), "PORT": str(ws_port), "IOT_MQTT_TCP_PORT": str(tcp_port),
                   "IOT_INGEST_RATE": "1000000", "IOT_INGEST_BURST": "1000000"}
            servers["gateway-mqtt"] = (serve(python_module("run", "gateway-mqtt"), env, ws_port,
                                             data_dir / "gateway-mqtt.log", cpus=SERVER_CPU), tcp_port)
            check_delivery(stack, tcp_port, token, topic, payload)
            # Rounds alternate the servers, so a disturbance from outside hits both rather than one.
            for round_ in range(1, ROUNDS + 1):
                for name, (process, server_port) in servers.items():
                    results["runs"].setdefault(name, []).append(
                        measure(f"{name} {round_}/{ROUNDS}", server_port, token, topic, payload, process.pid,
                                {"pubsub emulator": emulator}))
        finally:
            for process, _ in servers.values():
                process.stop()
        db = firestore.Client(project=stack.project)
        results["rejections_recorded"] = len(FirestoreRejections(db).list(owner_id, device_id, limit=10))
        db.close()
    finally:
        stack.stop()
    summarise(results)
    return results


def version_of(log: Path) -> str:
    """Mosquitto's version from its start-up line ("mosquitto version 2.0.11 starting")."""
    for line in log.read_text(errors="replace").splitlines():
        if "version" in line:
            return line.split("version", 1)[1].split()[0]
    return "unknown"


def median_run(runs: list[dict]) -> dict:
    """The run with the median messages/s (the table reports it whole, rather than mixing medians)."""
    return sorted(runs, key=lambda run: run["msgs_per_second"])[len(runs) // 2]


def summarise(results: dict) -> None:
    runs = results["runs"]
    median = results["median"] = {name: median_run(rounds) for name, rounds in runs.items()}
    broker, gateway = median["mosquitto"], median["gateway-mqtt"]
    results["ratio"] = gateway["msgs_per_second"] / broker["msgs_per_second"]
    results["cpu_per_message_ratio"] = (gateway["server_cpu_us_per_message"]
                                        / broker["server_cpu_us_per_message"])
    rows = []
    for name, run in median.items():
        rates = sorted(r["msgs_per_second"] for r in runs[name])
        rows.append([name, f"**{run['msgs_per_second']:,.0f}**", f"{rates[0]:,.0f}–{rates[-1]:,.0f}",
                     f"{run['p50_ms']:.1f}", f"{run['p99_ms']:.1f}", f"{run['max_ms']:.0f}",
                     f"{run['cpu_percent']['server']:.0f}%", f"{run['server_cpu_us_per_message']:.0f}",
                     f"{run['cpu_percent']['pubsub emulator']:.0f}%", f"{run['cpu_percent']['publishers']:.0f}%",
                     sum(r["disconnects"] + r["publish_failures"] + r["unacked_at_end"] for r in runs[name])])
    m = results["machine"]
    markdown = (
        "# MQTT: QoS 1 messages/s through gateway-mqtt against Mosquitto\n\n"
        f"Measured {m['when']} on {m['cpus']} CPUs, Python {m['python']} (1-minute load average "
        f"{results['load_average'][0]:.1f} before the run), both servers in the same run with the same clients: "
        f"{results['publishers']} paho-mqtt 2.2 publisher processes × 1 client (MQTT 3.1.1, QoS 1, at most "
        f"{results['window']} un-PUBACKed messages each), all publishing the same {results['payload_bytes']}-byte "
        "reading of a seeded sensor to `devices/<device_id>/telemetry` with the device token as password. "
        "**The server is pinned to CPU 0; the publishers and the Pub/Sub emulator (a JVM) share CPU 1.** "
        f"{results['rounds']} rounds alternate the two servers; each run counts PUBACKs for {results['seconds']} s "
        f"after a {results['warmup']} s warm-up. The table shows each server's median run, with the range of all "
        "its runs. Latency runs from `publish()` to the PUBACK. CPU is user + system time from /proc over the "
        "measured window (100 % = one core).\n\n"
        f"- **Mosquitto {results.get('mosquitto_version', '')}** (Debian package): `listener <port> 127.0.0.1`, "
        "`allow_anonymous true`, `persistence false`, no subscriber. Its PUBACK only means the broker has the "
        "message.\n"
        "- **gateway-mqtt** (`python -m run gateway-mqtt`, one asyncio process, MQTT over TCP) on the private "
        "stack's Pub/Sub and Firestore emulators. Each PUBACK waits until the token was checked (cached), the "
        "reading was validated against the device's sensors (cached) and **Pub/Sub confirmed the message**: the "
        "emulator is part of every round trip, Mosquitto's PUBACK has no such wait. Before measuring, one publish "
        "was pulled back from Pub/Sub to prove the reading is accepted (a 3.1.1 client gets a plain PUBACK even "
        f"for a refused one); {results['rejections_recorded']} rejections were recorded during the run.\n\n"
        + table(["server", "msgs/s", "range", "p50 ms", "p99 ms", "max ms", "server CPU", "server CPU µs/msg",
                 "Pub/Sub emulator CPU", "publishers CPU", "failed"], rows)
        + f"\nGateway / Mosquitto: **{results['ratio']:.0%}** of the messages/s; the gateway spends "
        f"**{results['cpu_per_message_ratio']:.0f}×** Mosquitto's server CPU per message "
        f"({gateway['server_cpu_us_per_message']:.0f} µs against {broker['server_cpu_us_per_message']:.0f} µs). "
        "\"failed\" counts disconnects, refused `publish()` calls and PUBACKs still missing "
        f"{DRAIN:g} s after a window, over all runs.\n\n"
        "Neither figure is the server's limit. The publishers are closed-loop, so latencies are at saturation. "
        "Mosquitto is bounded by the Python clients on one core (publishers' CPU near 100 %, the broker's far "
        f"below a core). The gateway is bounded by its round trip to the Pub/Sub emulator: {results['publishers']} "
        f"× {results['window']} messages in flight over a p50 of {gateway['p50_ms']:.0f} ms, with its own core at "
        f"{gateway['cpu_percent']['server']:.0f} %. CPU per message is the fairer comparison: at 100 % of one core "
        "it would allow about "
        f"{1e6 / gateway['server_cpu_us_per_message']:,.0f} msgs/s through the gateway and "
        f"{1e6 / broker['server_cpu_us_per_message']:,.0f} through Mosquitto (extrapolated, not measured).\n"
        "\n![MQTT throughput](mqtt_throughput.png)\n")
    write_results("mqtt_throughput", {
        **results, "runs": {name: [{k: v for k, v in run.items() if k != "latencies_ms"} for run in rounds]
                            for name, rounds in runs.items()},
        "median": {name: {k: v for k, v in run.items() if k not in ("latencies_ms", "timeline")}
                   for name, run in median.items()}}, markdown)
    plot(results)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["median"]
    colours = {"mosquitto": "#999999", "gateway-mqtt": "#1a73e8"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name, run in runs.items():
        points = run["timeline"]
        rates = [(t1, (n1 - n0) / (t1 - t0)) for (t0, n0), (t1, n1) in zip(points[::4], points[4::4])]
        axes[0].plot([t for t, _ in rates], [r for _, r in rates], label=name, color=colours[name])
        ordered = run["latencies_ms"]
        axes[2].plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=name,
                     color=colours[name])
    axes[0].axvline(results["warmup"], color="black", linestyle=":", linewidth=1)
    axes[0].set_xlabel("seconds (warm-up left of the dotted line)")
    axes[0].set_ylabel("PUBACKs/s")
    axes[0].set_ylim(bottom=0)
    axes[0].set_title("QoS 1 messages/s (median run)")
    axes[0].legend()
    names = list(runs)
    values = [runs[n]["server_cpu_us_per_message"] for n in names]
    bars = axes[1].bar(names, values, color=[colours[n] for n in names])
    axes[1].bar_label(bars, labels=[f"{v:,.0f} µs" for v in values])
    axes[1].set_ylabel("server CPU µs per message")
    axes[1].margins(y=0.12)
    axes[1].set_title("server CPU per message (lower is better)")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("publish → PUBACK, ms (log)")
    axes[2].set_ylabel("fraction of messages")
    axes[2].set_title("latency")
    axes[2].grid(True, which="both", alpha=0.3)
    axes[2].legend()
    fig.suptitle(f"MQTT QoS 1, {results['publishers']} publisher processes: gateway-mqtt / Mosquitto = "
                 f"{results['ratio']:.0%} of msgs/s")
    fig.tight_layout()
    fig.savefig(RESULTS / "mqtt_throughput.png", dpi=110)


if __name__ == "__main__":
    main()
