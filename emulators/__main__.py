"""``python -m emulators dev``: run the whole platform locally until Ctrl-C (what ``make dev`` calls)."""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
import threading
import time
from pathlib import Path

from emulators.process import StartupError
from emulators.stack import PROCESSES, LocalStack, Ports
from emulators.ticks import Ticker
from infra.config import Settings
from infra.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__)
    parser.add_argument("command", choices=["dev"], help="dev: start everything and wait for Ctrl-C")
    parser.add_argument("--free-ports", action="store_true",
                        help="use free ephemeral ports instead of the fixed ones (beside another stack)")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    settings = Settings.from_env()
    data_dir: Path = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)

    lock = _single_instance(data_dir / "dev.lock")
    if lock is None:
        print("make dev is already running (see the terminal that started it); stop it with Ctrl-C there.",
              file=sys.stderr)
        return 1

    stack = LocalStack(data_dir, Ports.free() if args.free_ports else Ports(), project=settings.project_id,
                       elasticsearch_url=os.environ.get("ELASTICSEARCH_URL"))
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    started = time.monotonic()
    try:
        stack.check_ports_free([n for n in Ports.names()
                                if not (n == "elasticsearch" and stack.elasticsearch_url)])
        print("starting emulators ...", flush=True)
        stack.start_backends()
        stack.bootstrap()
        print("starting services ...", flush=True)
        stack.start_services()
        _print_table(stack, time.monotonic() - started)
        ticker = Ticker(stack.url("pipeline", ""))  # Cloud Scheduler's part (terraform/lifecycle.tf)
        next_tick = time.monotonic() + settings.rules_tick_interval
        while not stopping.wait(0.5):
            if ticker.due():
                ticker.tick()
            if time.monotonic() >= next_tick:  # what Cloud Scheduler does in the cloud: no-data rules need a clock
                next_tick = time.monotonic() + settings.rules_tick_interval
                stack.tick_rules()
            dead = [name for name, process in stack.processes.items() if not process.alive()]
            if dead:
                for name in dead:
                    print(f"\n{name} exited unexpectedly; last log lines:\n"
                          f"{stack.processes[name].log_tail()}", file=sys.stderr)
                return 1
        return 0
    except StartupError as exc:
        print(f"\nstart-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping every process ...", flush=True)
        stack.stop()
        print("stopped.", flush=True)
        lock.close()


def _single_instance(path: Path):
    """Hold an exclusive lock for the life of this process; None when another ``make dev`` holds it."""
    handle = open(path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _print_table(stack: LocalStack, elapsed: float) -> None:
    rows = stack.urls()
    width = max(len(what) for what, _ in rows)
    print(f"\nIoT platform is up in {elapsed:.1f}s ({len(PROCESSES)} services). Ctrl-C stops everything.\n")
    for what, where in rows:
        print(f"  {what.ljust(width)}  {where}")
    for line in stack.notices:
        print(line)
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
