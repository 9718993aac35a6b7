"""A worked example of the extension point: an operator's own service on the telemetry stream (docs/rules.md).

It is the target of a further push subscription on ``telemetry`` (``telemetry-ext-rolling-average``; terraform's
``extension_push_endpoints``, locally ``IOT_EXTENSION_PUSH_ENDPOINTS``) and derives a sensor: the rolling average of
the last ``ROLLING_WINDOW`` readings of a source sensor, written back through the ingestion path (gateway-http) with
a device key of its own, so the derived sensor is stored, queried, granted and watched by rules like any other.

Configuration (environment): ``ROLLING_GATEWAY_URL`` (gateway-http), ``ROLLING_DEVICE_KEY`` (the key of the device
holding the derived sensors), ``ROLLING_SENSORS`` (``source_id=derived_id,...``), ``ROLLING_WINDOW`` (default 5).

Example-grade on purpose: the window lives in the instance's memory (one instance; a restart starts it afresh).
It answers 204 once the averages were accepted by the gateway, 503 otherwise (Pub/Sub redelivers). Only the source
sensors are averaged, so its own output, which comes back on the stream, never feeds into it.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections import defaultdict, deque

import requests
from flask import Flask, request


def create_app(environ: dict | None = None) -> Flask:
    """Build the example's app from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    gateway = env["ROLLING_GATEWAY_URL"].rstrip("/") + "/"
    key = env["ROLLING_DEVICE_KEY"]
    derived = dict(pair.split("=", 1) for pair in env["ROLLING_SENSORS"].split(",") if pair)
    size = int(env.get("ROLLING_WINDOW", "5"))
    windows: dict[str, deque] = defaultdict(lambda: deque(maxlen=size))
    lock = threading.Lock()
    session = requests.Session()
    app = Flask(__name__)
    app.config["received"] = 0  # messages received (what the test and /healthz report)

    @app.get("/healthz")
    def healthz():
        return {"ok": True, "received": app.config["received"]}

    @app.post("/pubsub/push")
    def push():
        message = (request.get_json(silent=True) or {}).get("message") or {}
        try:
            data = json.loads(base64.b64decode(message.get("data", "")))
        except ValueError:
            return "", 204  # not telemetry: nothing to derive
        app.config["received"] += 1
        records = []
        with lock:
            for record in data.get("records") or []:
                target = derived.get(record.get("sensor_id"))
                if target is None or not isinstance(record.get("value"), (int, float)):
                    continue
                window = windows[record["sensor_id"]]
                window.append(record["value"])
                records.append({"sensor_id": target, "timestamp": record["timestamp"],
                                "value": sum(window) / len(window)})
        if not records:
            return "", 204
        reply = session.post(gateway, json=records, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        return ("", 204) if reply.status_code == 200 else ("", 503)

    return app
