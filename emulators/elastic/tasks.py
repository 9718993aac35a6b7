"""Background tasks (``wait_for_completion=false``) and ``GET /_tasks/{id}``, in ES's shapes.

A request run as a task answers ``{"task": "<node>:<n>"}`` at once and runs in a thread of its own; ``GET
/_tasks/<id>`` answers ``{"completed": false, "task": {...}}`` while it runs, then adds its ``response`` (or
``error``). As in ES, a task whose id is unknown is a 404 ``resource_not_found_exception``. Unlike ES, which keeps
finished tasks' results in its ``.tasks`` index, the stand-in keeps them in memory only: after a restart the id is
unknown (a client must treat that as "look again at the data", which it must do against ES too once the ``.tasks``
entry is gone).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, Callable

from .errors import EsError

logger = logging.getLogger(__name__)

NODE_ID = "standin"
MAX_KEPT = 1000  # finished tasks remembered (oldest forgotten first)


class Tasks:
    """The tasks started since this process began, by id."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._tasks: dict[str, dict[str, Any]] = {}

    def start(self, action: str, description: str, run: Callable[[], dict]) -> str:
        """Run ``run`` in a thread; return the task id (``node:n``)."""
        task_id = f"{NODE_ID}:{next(self._ids)}"
        entry = {"action": action, "description": description, "start_ms": time.time_ns() // 1_000_000,
                 "start_ns": time.monotonic_ns(), "done_ns": None, "response": None, "error": None}
        with self._lock:
            self._tasks[task_id] = entry
            finished = [k for k, v in self._tasks.items() if v["done_ns"] is not None]
            for old in finished[:max(0, len(finished) - MAX_KEPT)]:
                del self._tasks[old]
        threading.Thread(target=self._run, args=(entry, run), name=f"task-{task_id}", daemon=True).start()
        return task_id

    @staticmethod
    def _run(entry: dict, run: Callable[[], dict]) -> None:
        try:
            entry["response"] = run()
        except EsError as exc:
            entry["error"] = exc.cause_dict()
        except Exception as exc:  # a bug in the stand-in: report it as ES reports a failed task
            logger.exception("task %s failed", entry["description"])
            entry["error"] = {"type": "exception", "reason": str(exc)}
        entry["done_ns"] = time.monotonic_ns()

    def get(self, task_id: str) -> dict:
        """The body of ``GET /_tasks/{task_id}``."""
        with self._lock:
            entry = self._tasks.get(task_id)
        if entry is None:
            raise EsError(404, "resource_not_found_exception",
                          f"task [{task_id}] isn't running and hasn't stored its results")
        done = entry["done_ns"]
        node, _, number = task_id.partition(":")
        response = entry["response"]
        status = {key: response[key] for key in ("total", "deleted", "batches", "version_conflicts", "noops")} \
            if response else {"total": 0, "deleted": 0, "batches": 0, "version_conflicts": 0, "noops": 0}
        body: dict[str, Any] = {"completed": done is not None, "task": {
            "node": node, "id": int(number), "type": "transport", "action": entry["action"], "status": status,
            "description": entry["description"], "start_time_in_millis": entry["start_ms"],
            "running_time_in_nanos": (done or time.monotonic_ns()) - entry["start_ns"], "cancellable": True,
            "cancelled": False, "headers": {}}}
        if entry["error"] is not None:
            body["error"] = entry["error"]
        elif response is not None:
            body["response"] = response
        return body
