"""Process faults the tests inject by signal: freeze a process group for a bounded time, kill, terminate."""

from __future__ import annotations

import contextlib
import os
import signal

from emulators.process import ManagedProcess


@contextlib.contextmanager
def frozen(process: ManagedProcess):
    """Stop every process of ``process``'s group (SIGSTOP) for the block; always resume them (SIGCONT).

    A frozen server keeps its state and its listening socket: connections are accepted by the kernel and then
    hang, the way a server that stopped answering looks to its clients.
    """
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGCONT)


def kill(process: ManagedProcess) -> None:
    """SIGKILL the whole group (no cleanup, in-flight work lost) and reap the leader."""
    os.killpg(process.pid, signal.SIGKILL)
    process.popen.wait(10)


def terminate(*processes: ManagedProcess, timeout: float = 20.0) -> list[int]:
    """SIGTERM each leader at once (what Cloud Run sends an instance's PID 1); their exit codes once they ended."""
    for process in processes:
        process.popen.send_signal(signal.SIGTERM)
    codes = [process.popen.wait(timeout) for process in processes]
    for process in processes:
        process.stop()  # anything of the group left behind
    return codes
