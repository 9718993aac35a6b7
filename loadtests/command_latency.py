"""Command delivery latency: from the owner's API call to the device receiving the command, over WebSocket and MQTT.

A private stack on free ports (Google's Pub/Sub and Firestore emulators, the composed API, two gateway-ws and two
gateway-mqtt instances). ``DEVICES`` devices per protocol hold their connections spread over both instances of it
(MQTT: subscribed to ``devices/<id>/commands/#`` at QoS 1); an open-loop sender sends ``RATE`` commands per second
for ``SECONDS`` seconds per protocol through ``POST /api/devices/{id}/commands``, to each device in turn. A command's
latency is the time from the start of that call to its arrival at the device: the API's Firestore write, its read of
the device's presence and its nudge written into the inbox of the instance holding the session (awaited), that
instance's Firestore listener, and the push. Target p95 ≤ 1 s, reported, not asserted.

Run ``python -m loadtests.command_latency``; writes results/command_latency.{json,md,png}.
"""

from __future__ import annotations

import os
import queue
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from emulators.api_client import ApiClient
from emulators.control_clients import MqttDevice, WsDevice
from emulators.stack import LocalStack, Ports
from emulators.process import free_port
from infra.wiring.admin import admin_account
from loadtests.freshness import percentile
from loadtests.harness import RESULTS, machine, table, write_results

RATE = float(os.environ.get("BENCH_RATE", "5"))  # commands per second
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))  # per protocol
DEVICES = 4  # per protocol, spread over its two instances
GRACE = 10.0  # seconds a command may take before it counts as lost
TARGET_P95_MS = 1000


class Arrivals:
    """When each command (by id) arrived at a device."""

    def __init__(self):
        self.lock = threading.Lock()
        self.at: dict[str, float] = {}

    def watch(self, device) -> None:
        def loop() -> None:
            while True:
                try:
                    message = device.next(timeout=3600)
                except queue.Empty:
                    continue
                body = message.body
                if isinstance(body, dict) and "id" in body and "name" in body:
                    with self.lock:
                        self.at.setdefault(body["id"], message.received_at)

        threading.Thread(target=loop, daemon=True).start()


def start(stack: LocalStack) -> dict[str, list[str]]:
    """The API and two instances of each pushing gateway; their device URLs per protocol."""
    stack.start_service("api")
    urls: dict[str, list[str]] = {"ws": [], "mqtt": []}
    for key in ("ws-a", "ws-b"):
        stack.start_service("gateway-ws", key=key)
        urls["ws"].append(stack.url(key).replace("http://", "ws://"))
    for key in ("mqtt-a", "mqtt-b"):
        port = free_port()
        stack.start_service("gateway-mqtt", key=key, extra_env={"IOT_MQTT_TCP_PORT": str(port)})
        urls["mqtt"].append(f"mqtt://127.0.0.1:{port}")
    return urls


def connect(protocol: str, url: str, device_id: str, token: str):
    if protocol == "ws":
        return WsDevice(url, token)
    device = MqttDevice.from_url(url, device_id, token)
    device.connect()
    device.subscribe(f"devices/{device_id}/commands/#", qos=1)
    return device


def measure(api: ApiClient, protocol: str, urls: list[str]) -> dict:
    """Send commands to connected devices of one protocol; their latencies and the API calls' durations."""
    arrivals = Arrivals()
    devices, sent, calls, failures = [], {}, [], 0
    for index in range(DEVICES):
        device_id = api.create_device(f"bench-{protocol}-{index}")["id"]
        client = connect(protocol, urls[index % len(urls)], device_id, api.device_key(device_id)["token"])
        arrivals.watch(client)
        devices.append((device_id, client))
    lock = threading.Lock()

    def send(device_id: str, seq: int) -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            command = api.send_command(device_id, "bench", {"seq": seq}, ttl=60)
        except Exception:
            with lock:
                failures += 1
            return
        with lock:
            sent[command["id"]] = started
            calls.append((time.perf_counter() - started) * 1000)

    with ThreadPoolExecutor(16) as pool:
        begin = time.perf_counter()
        for n in range(int(RATE * SECONDS)):
            # Open loop: command n leaves at its scheduled time, whatever happened to the earlier ones.
            delay = begin + n / RATE - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, devices[n % DEVICES][0], n)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline and any(i not in arrivals.at for i in sent):
        time.sleep(0.05)
    for _, client in devices:
        client.close()
    latencies = [(arrivals.at[i] - t) * 1000 for i, t in sent.items() if i in arrivals.at]
    return {"commands": int(RATE * SECONDS), "sent": len(sent), "refused": failures,
            "lost": len(sent) - len(latencies), "latency_ms": latencies, "api_call_ms": calls}


def main() -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-commands-"))
    stack = LocalStack(data_dir, Ports.free())
    results: dict = {"machine": machine(), "rate": RATE, "seconds": SECONDS, "devices": DEVICES}
    try:
        stack.start_backends()
        stack.bootstrap()
        urls = start(stack)
        admin = admin_account(stack.settings())
        api = ApiClient(stack.url("api", ""))
        api.signin(admin.username, admin.password)
        for protocol in ("ws", "mqtt"):
            results[protocol] = measure(api, protocol, urls[protocol])
    finally:
        stack.stop()
    summarise(results)
    return results


def summarise(results: dict) -> None:
    rows, summary = [], {}
    for protocol, label in (("ws", "WebSocket"), ("mqtt", "MQTT (QoS 1)")):
        run = results[protocol]
        for measure_name, values in ((f"{label}: API call → device receives", run["latency_ms"]),
                                     (f"{label}: the API call alone", run["api_call_ms"])):
            stats = {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
                     "p99": percentile(values, 0.99), "max": max(values), "mean": statistics.fmean(values)}
            summary[measure_name] = stats
            rows.append([measure_name, f"{stats['p50']:.0f}", f"{stats['p95']:.0f}", f"{stats['p99']:.0f}",
                         f"{stats['max']:.0f}"])
    results["summary"] = summary
    ws = summary["WebSocket: API call → device receives"]
    mqtt = summary["MQTT (QoS 1): API call → device receives"]
    verdict = "within" if max(ws["p95"], mqtt["p95"]) <= TARGET_P95_MS else "above"
    m = results["machine"]
    markdown = (
        "# Command delivery latency: API call → device receives\n\n"
        f"Measured {m['when']} on {m['cpus']} CPUs, Python {m['python']}, everything on one machine: Google's "
        "Pub/Sub and Firestore emulators, the composed API, two gateway-ws and two gateway-mqtt instances (one "
        f"worker each, the services' own settings). Per protocol {results['devices']} connected devices spread over "
        f"both of its instances; open-loop load of {results['rate']:g} commands/s for {results['seconds']} s "
        f"(WebSocket: {results['ws']['sent']} sent, {results['ws']['lost']} lost, {results['ws']['refused']} "
        f"refused; MQTT: {results['mqtt']['sent']} sent, {results['mqtt']['lost']} lost, "
        f"{results['mqtt']['refused']} refused). Latency runs from the start of `POST /api/devices/{{id}}/commands` "
        "to the command's arrival at the device: the API's Firestore write, its presence read and its awaited "
        "nudge into the inbox of the instance holding the device's session, that instance's Firestore listener, "
        "the push.\n\n"
        + table(["measure (ms)", "p50", "p95", "p99", "max"], rows)
        + f"\np95 **{ws['p95']:.0f} ms** over WebSocket and **{mqtt['p95']:.0f} ms** over MQTT: {verdict} the "
        f"target of {TARGET_P95_MS} ms (reported, not asserted).\n"
        "\n![Command latency](command_latency.png)\n")
    write_results("command_latency", {k: v for k, v in results.items() if k not in ("ws", "mqtt")}
                  | {p: {k: v for k, v in results[p].items() if not k.endswith("_ms")} for p in ("ws", "mqtt")},
                  markdown)
    plot(results)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values, colour in (("WebSocket", results["ws"]["latency_ms"], "#1a73e8"),
                                 ("MQTT (QoS 1)", results["mqtt"]["latency_ms"], "#f29900"),
                                 ("the API call alone (WebSocket run)", results["ws"]["api_call_ms"], "#999999")):
        ordered = sorted(values)
        ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=name, color=colour)
    ax.axvline(TARGET_P95_MS, color="#d93025", linestyle="--", label="target p95")
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log)")
    ax.set_ylabel("fraction of commands")
    ax.set_title(f"API call → device receives, {results['rate']:g} commands/s, {results['seconds']} s per protocol")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "command_latency.png", dpi=110)


if __name__ == "__main__":
    main()
