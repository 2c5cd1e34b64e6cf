"""Contender processes (``tests.support.worker``): start one, read its events, kill it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import leaselect
from leaselect.clock import SYSTEM_CLOCK
from tests.support import ROOT

WORKER = [sys.executable, "-m", "tests.support.worker"]


def spawn(url: str, name: str, ttl: float, *mode: str) -> subprocess.Popen[str]:
    """A worker campaigning for ``name`` on ``url`` in ``mode`` (see ``tests.support.worker``)."""
    return subprocess.Popen(
        [*WORKER, url, name, str(ttl), *mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def read_event(proc: subprocess.Popen[str], event: str) -> dict[str, Any]:
    """The worker's next ``event`` line; fails if it exits first."""
    assert proc.stdout is not None
    for line in proc.stdout:
        record: dict[str, Any] = json.loads(line)
        if record["event"] == event:
            return record
    raise AssertionError(f"worker exited ({proc.wait()}) before {event!r}")


def kill_9_failover(url: str, name: str, ttl: float, phase: float) -> float:
    """Seconds from a leader process's SIGKILL, ``phase`` s after a waiter queued, to that
    waiter's election (which must bring a greater token)."""
    holder = spawn(url, name, ttl, "hold")
    first = read_event(holder, "elected")
    waiter = leaselect.Elector(url, name, ttl=ttl)
    try:
        assert waiter.acquire(timeout=0.5) is None
        time.sleep(phase)
        holder.send_signal(signal.SIGKILL)
        killed = SYSTEM_CLOCK.now()
        holder.wait()
        lease = waiter.acquire(timeout=ttl + 3)
        failover = SYSTEM_CLOCK.now() - killed
        assert lease is not None and lease.token > first["token"]
        return failover
    finally:
        waiter.close()
