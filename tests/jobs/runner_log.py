"""The runner worker processes (``tests.jobs.runner_worker``) and the log lines they write."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT
from tests.support.jobs import JobStore


def spawn(store: JobStore, name: str, log: Path, mode: str) -> subprocess.Popen[bytes]:
    """A runner worker in ``mode`` logging to ``log``."""
    args = [store.url, name, str(log), str(store.ttl), mode]
    return subprocess.Popen([sys.executable, "-m", "tests.jobs.runner_worker", *args], cwd=ROOT)


def lines(log: Path, kind: str) -> list[list[str]]:
    """The fields of every ``kind`` line of ``log`` so far."""
    text = log.read_text() if log.exists() else ""
    return [line.split()[1:] for line in text.splitlines() if line.startswith(kind + " ")]


def wait_for(log: Path, kind: str, count: int, timeout: float = 15) -> list[list[str]]:
    """The ``kind`` lines once there are ``count``; fails after ``timeout`` s."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if len(found := lines(log, kind)) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} {kind!r} lines: {log.read_text()}")
