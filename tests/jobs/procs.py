"""Stopping the worker processes of the multi-process job tests."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

EXIT_BOUND = 15.0  # seconds a worker gets to shut down gracefully after SIGTERM


def stop_all(procs: list[subprocess.Popen[bytes]], log: Path | None = None) -> None:
    """SIGTERM every worker and wait for each; a worker still running after ``EXIT_BOUND``
    dumps every thread's stack to stderr (the workers register faulthandler on SIGUSR1), is
    killed, and fails the test (with the workers' ``log`` in the message)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a worker a failed test left stopped
            proc.terminate()
    stuck = []
    for proc in procs:
        try:
            proc.wait(EXIT_BOUND)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1)
            proc.kill()
            proc.wait()
            stuck.append(proc.pid)
    text = log.read_text() if log is not None and log.exists() else ""
    assert not stuck, (
        f"worker(s) {stuck} still ran {EXIT_BOUND:.0f}s after SIGTERM (stacks above)\n{text}"
    )
