"""Structured logging in Cloud Logging's shape: one JSON object per line with severity, message and trace."""

from __future__ import annotations

import contextvars
import logging
import sys
import traceback
from datetime import datetime, timezone

import orjson

# The trace of the request being served, set by the web layer from X-Cloud-Trace-Context or traceparent.
current_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_trace", default=None)

# Client libraries that log per connection or per retry at INFO; kept at WARNING.
NOISY_LOGGERS = ("urllib3", "google", "grpc", "elastic_transport", "websockets", "run.gateway_mqtt.websocket")
_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO", "DEBUG": "DEBUG"}
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class CloudLoggingFormatter(logging.Formatter):
    """Format records as Cloud Logging structured JSON; extra fields passed with ``extra=`` are kept."""

    def __init__(self, project_id: str | None = None, service: str | None = None):
        super().__init__()
        self.project_id = project_id
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "logger": record.name,
        }
        if self.service:
            entry["serviceContext"] = {"service": self.service}
        trace = current_trace.get()
        if trace and self.project_id:
            entry["logging.googleapis.com/trace"] = f"projects/{self.project_id}/traces/{trace}"
        if record.exc_info:
            # Error Reporting groups entries whose stack_trace holds a Python traceback.
            entry["stack_trace"] = "".join(traceback.format_exception(*record.exc_info))
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO", *, project_id: str | None = None, service: str | None = None) -> None:
    """Send every logger's records to stderr as JSON lines (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CloudLoggingFormatter(project_id, service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def trace_from_headers(headers) -> str | None:
    """Extract the trace id from Cloud Run's ``X-Cloud-Trace-Context`` or W3C ``traceparent``."""
    cloud = headers.get("X-Cloud-Trace-Context")
    if cloud:
        return cloud.split("/", 1)[0] or None
    parent = headers.get("traceparent")
    if parent:
        parts = parent.split("-")
        if len(parts) >= 3 and len(parts[1]) == 32:
            return parts[1]
    return None
