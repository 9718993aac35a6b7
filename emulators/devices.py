"""Simulated devices: ``python -m emulators.devices`` registers devices through the API and streams readings.

    python -m emulators.devices --protocol mqtt --devices 5 --rate 2 --duration 30

Signs in (the development admin by default), creates or reuses devices ``sim-0 … sim-N`` with a temperature,
a humidity and a door sensor each, downloads their keys and sends readings over HTTP, WebSocket or MQTT at
the given rate per device, with a progress bar and a summary of what the gateways accepted. Meanwhile each device
applies the desired states it gets and answers its commands (``device_behaviour``; ``--no-control`` turns it off), so
commands and twins can be watched in the console.
"""

from __future__ import annotations

import argparse
import math
import queue
import random
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlparse

import orjson
import requests
from tqdm import tqdm

from infra.wiring.admin import admin_account
from emulators.api_client import ApiClient, ApiError
from emulators.control_clients import Received, WsDevice
from emulators.device_behaviour import HttpPoller, respond_over_mqtt, respond_over_ws
from infra.config import Settings

SENSORS = {"temperature": "double", "humidity": "double", "door": "boolean"}
PROTOCOLS = ("http", "ws", "mqtt", "mqtt-ws")


@dataclass
class SimDevice:
    """A registered device: its id, key and sensors (name → id)."""

    id: str
    token: str
    sensors: dict[str, str]


@dataclass
class Summary:
    """What happened to the messages sent."""

    sent: int = 0
    accepted_records: int = 0
    refused: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, latency_ms: float, accepted: int | None, error: str | None) -> None:
        with self.lock:
            self.sent += 1
            self.latencies_ms.append(latency_ms)
            if error is None:
                self.accepted_records += accepted or 0
            else:
                self.refused[error] += 1

    def lines(self, elapsed: float) -> list[str]:
        lat = sorted(self.latencies_ms)
        pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (lambda q: math.nan)
        rows = [f"messages sent      {self.sent} in {elapsed:.1f}s ({self.sent / max(elapsed, 1e-9):.1f}/s)",
                f"records accepted   {self.accepted_records}",
                f"refused            {sum(self.refused.values())}"
                + (f" ({', '.join(f'{k}: {v}' for k, v in self.refused.most_common())})" if self.refused else ""),
                f"latency p50 / p95  {pct(0.5):.1f} / {pct(0.95):.1f} ms (until the gateway confirmed)"]
        if lat:
            rows.append(f"latency mean       {statistics.fmean(lat):.1f} ms")
        return rows


def register(api: ApiClient, count: int) -> list[SimDevice]:
    """Create (or reuse, by name) ``count`` devices with the simulator's sensors; download their keys."""
    existing = {d["name"]: d for d in api.list_devices()}
    devices = []
    for index in range(count):
        name = f"sim-{index}"
        device = existing.get(name) or api.create_device(name, "simulated by emulators.devices")
        sensors = {s["name"]: s["id"] for s in api.list_sensors(device["id"])}
        for sensor, sensor_type in SENSORS.items():
            if sensor not in sensors:
                sensors[sensor] = api.create_sensor(device["id"], sensor, {"type": sensor_type},
                                                    path=["Simulated"])["id"]
        devices.append(SimDevice(device["id"], api.device_key(device["id"])["token"], sensors))
    return devices


def readings(device: SimDevice, batch: int, rng: random.Random) -> list[dict]:
    """``batch`` plausible readings for the device's sensors, timestamped now in nanoseconds."""
    now = time.time_ns()
    out = []
    for i in range(batch):
        name = list(SENSORS)[i % len(SENSORS)]
        value = (round(20 + 5 * math.sin(now / 6e10) + rng.gauss(0, 0.3), 2) if name == "temperature"
                 else round(rng.uniform(30, 60), 1) if name == "humidity" else rng.random() < 0.1)
        out.append({"sensor_id": device.sensors[name], "timestamp": now + i, "value": value})
    return out


Sender = Callable[[bytes], tuple[int | None, str | None]]  # body → (accepted, error code)


def http_sender(url: str, device: SimDevice, control: bool = False) -> Sender:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {device.token}", "Content-Type": "application/json"})
    poller = HttpPoller(url, session) if control else None

    def send(body: bytes):
        if poller is not None:
            poller.poll()
        response = session.post(url, data=body, timeout=30)
        if response.ok:
            return response.json()["accepted"], None
        return None, f"{response.status_code} {_code(response)}"

    return send


def ws_sender(url: str, device: SimDevice, control: bool = False) -> Sender:
    socket = WsDevice(url, device.token)
    if control:
        respond_over_ws(socket)

    def send(body: bytes):
        ack = socket.send_text(body.decode())
        return (ack["accepted"], None) if ack["ok"] else (None, f"{ack['status']} {ack['error']['code']}")

    send.close = socket.close
    return send


def mqtt_sender(url: str, device: SimDevice, control: bool = False) -> Sender:
    """QoS 1 over one MQTT 5 connection; raises ConnectionError once the gateway ended it (connect again). With
    ``control`` the device also takes its config and commands and answers them (``device_behaviour``)."""
    import paho.mqtt.client as mqtt

    parsed = urlparse(url)
    websockets = parsed.scheme in ("ws", "wss")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         transport="websockets" if websockets else "tcp")
    if websockets:
        client.ws_set_options(path=parsed.path or "/mqtt")
    client.username_pw_set("JWT", device.token)
    acks: dict[int, int] = {}
    ended: list = []  # the reason of the disconnect, once the connection ended
    changed = threading.Condition()

    def on_publish(client, userdata, mid, reason_code, properties):
        with changed:
            acks[mid] = reason_code.value
            changed.notify_all()

    def on_disconnect(client, userdata, flags, reason_code, properties):
        with changed:
            ended.append(reason_code)
            changed.notify_all()

    client.on_publish, client.on_disconnect = on_publish, on_disconnect
    if control:
        inbox: queue.Queue[Received] = queue.Queue()
        client.on_message = lambda c, u, m: inbox.put(Received(m.topic, orjson.loads(m.payload), m.qos))
        # On every (re)connect: the gateway keeps no 3.1.1 or clean session.
        client.on_connect = lambda c, u, flags, rc, p: c.subscribe(
            [(f"devices/{device.id}/config", 1), (f"devices/{device.id}/commands/#", 1)])
        respond_over_mqtt(device.id, inbox.get, lambda topic, body: client.publish(topic, orjson.dumps(body), qos=1))
    client.connect(parsed.hostname, parsed.port or (80 if websockets else 1883))
    client.loop_start()

    def send(body: bytes):
        info = client.publish(f"devices/{device.id}/telemetry", body, qos=1)
        with changed:
            # A dropped connection ends the wait at once: waiting out the timeout would only delay the resend.
            changed.wait_for(lambda: info.mid in acks or ended, timeout=30)
            code = acks.pop(info.mid, None)
        if code is None and ended:
            raise ConnectionError(f"disconnected before the PUBACK ({ended[0]})")
        if code == 0:
            return len(orjson.loads(body)) if body.startswith(b"[") else 1, None
        return None, "no PUBACK" if code is None else f"reason 0x{code:02x}"

    def close():
        client.disconnect()
        client.loop_stop()

    send.close = close
    return send


def _code(response: requests.Response) -> str:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "error"


def run(devices: list[SimDevice], make_sender: Callable[[SimDevice], Sender], *, rate: float, batch: int,
        duration: float | None, count: int | None, progress: bool = True) -> tuple[Summary, float]:
    """Send from every device at ``rate`` messages/s until ``duration`` passed or ``count`` were sent each."""
    summary = Summary()
    total = count * len(devices) if count else None
    bar = tqdm(total=total, unit="msg", disable=not progress, desc="sending")
    stop_at = time.monotonic() + duration if duration else math.inf
    stopped = threading.Event()  # Ctrl-C
    started = time.monotonic()

    def device_loop(device: SimDevice, seed: int) -> None:
        rng = random.Random(seed)
        sender = make_sender(device)
        interval, next_at, sent = 1.0 / rate, time.monotonic(), 0
        try:
            while not stopped.is_set() and time.monotonic() < stop_at and (count is None or sent < count):
                body = orjson.dumps(readings(device, batch, rng) if batch > 1 else readings(device, 1, rng)[0])
                t0 = time.perf_counter()
                try:
                    accepted, error = sender(body)
                except Exception as exc:  # a dropped connection counts as a refusal, the run goes on
                    accepted, error = None, type(exc).__name__
                summary.record((time.perf_counter() - t0) * 1000, accepted, error)
                bar.update(1)
                sent += 1
                next_at += interval
                stopped.wait(max(0.0, next_at - time.monotonic()))
        finally:
            getattr(sender, "close", lambda: None)()

    threads = [threading.Thread(target=device_loop, args=(d, i), daemon=True) for i, d in enumerate(devices)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        stopped.set()
        for thread in threads:
            thread.join(35)
    bar.close()
    return summary, time.monotonic() - started


def default_gateway(protocol: str, api_url: str) -> str:
    """The local gateway URL of a protocol, on the API's host."""
    host = urlparse(api_url).hostname or "127.0.0.1"
    return {"http": f"http://{host}:8083/", "ws": f"ws://{host}:8765/", "mqtt": f"mqtt://{host}:1883",
            "mqtt-ws": f"ws://{host}:8766/mqtt"}[protocol]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.devices", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default="http://127.0.0.1:8080", help="management API base URL")
    parser.add_argument("--username", help="user to register devices as (default: the development admin)")
    parser.add_argument("--password", help="its password (default: the generated development admin password)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="http")
    parser.add_argument("--gateway", help="gateway URL (default: the local one for the protocol)")
    parser.add_argument("--devices", type=int, default=3, help="number of devices")
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second per device")
    parser.add_argument("--batch", type=int, default=1, help="records per message")
    parser.add_argument("--control", action=argparse.BooleanOptionalAction, default=True,
                        help="apply desired states and answer commands (default: on)")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--duration", type=float, help="seconds to run")
    limit.add_argument("--count", type=int, help="messages per device (default 10)")
    args = parser.parse_args(argv)
    if args.duration is None and args.count is None:
        args.count = 10

    username, password = args.username, args.password
    if username is None or password is None:
        admin = admin_account(Settings.from_env())  # what `make dev` bootstrapped
        username, password = username or admin.username, password or admin.password
    api = ApiClient(args.api)
    try:
        api.signin(username, password)
        devices = register(api, args.devices)
    except (ApiError, requests.RequestException) as exc:
        print(f"could not register devices at {args.api}: {exc}", file=sys.stderr)
        return 1
    gateway = args.gateway or default_gateway(args.protocol, args.api)
    senders = {"http": http_sender, "ws": ws_sender, "mqtt": mqtt_sender, "mqtt-ws": mqtt_sender}
    summary, elapsed = run(devices, lambda d: senders[args.protocol](gateway, d, args.control), rate=args.rate,
                           batch=args.batch, duration=args.duration, count=args.count)
    print(f"\n{len(devices)} devices over {args.protocol} to {gateway}")
    for line in summary.lines(elapsed):
        print(f"  {line}")
    return 0 if summary.sent and not summary.refused else 2


if __name__ == "__main__":
    sys.exit(main())
