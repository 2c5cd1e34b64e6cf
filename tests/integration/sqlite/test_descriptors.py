"""No descriptor leaks per elector of the embedded store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.sqlite_worker import Worker

CYCLES = """
import os, sys
import leaselect

url, name, cycles, waits = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def count():
    return len(os.listdir("/proc/self/fd"))
elector = leaselect.Elector(url, name + "-warm", ttl=1)
elector.acquire(5)
elector.close()
shared = leaselect.connect(url)
closed = []  # a closed elector that is still referenced must hold no descriptor
before = count()
for i in range(cycles):  # each elector leads, then closes
    elector = leaselect.Elector(url if i % 2 else shared, name + "-free", ttl=1)
    assert elector.acquire(5) is not None
    elector.close()
    closed.append(elector)
for i in range(waits):  # each elector queues behind the held lease, gives up, closes
    elector = leaselect.Elector(url if i % 2 else shared, name, ttl=1)
    assert elector.acquire(0.05) is None
    elector.close()
    closed.append(elector)
print(before, count(), flush=True)
"""


def _beside_a_holder(tmp_path: Path, name: str, script: str, *args: str, timeout: float) -> str:
    """Run ``script URL NAME ARGS`` while another process holds ``name``; its stdout."""
    url = f"sqlite:///{tmp_path}/leases.db"
    holder = Worker(url, name, 5)
    try:
        assert holder.wait_for("elected", 10) is not None
        return subprocess.run(
            [sys.executable, "-c", script, url, name, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout
    finally:
        holder.stop()


def test_no_descriptor_leaks_after_200_electors(tmp_path: Path, name: str) -> None:
    out = _beside_a_holder(tmp_path, name, CYCLES, "200", "20", timeout=100)
    before, after = map(int, out.split())
    assert after <= before + 1, (before, after)


DROPPED = """
import gc, os, sys, threading
import leaselect

url, name, count, waits = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def descriptors():
    return len(os.listdir("/proc/self/fd"))
leaselect.Elector(url, name + "-warm", ttl=1).close()
gc.collect()
before, threads = descriptors(), threading.active_count()
for i in range(count):  # created, never started nor closed, then dropped
    elector = leaselect.Elector(url, f"{name}-{i}", ttl=1, release_on_exit=bool(i % 2))
    del elector
for i in range(waits):  # queued behind the held lease, gave up, never closed, then dropped
    elector = leaselect.Elector(url, name, ttl=1, release_on_exit=bool(i % 2))
    assert elector.acquire(0.05) is None
    del elector
gc.collect()
print(before, descriptors(), threads, threading.active_count(), flush=True)
"""


def test_dropped_electors_release_their_descriptors(tmp_path: Path, name: str) -> None:
    """An Elector (and its backend) nobody references any more holds no descriptor or thread,
    whether or not it is registered for release at exit, and whether or not it waited."""
    out = _beside_a_holder(tmp_path, name, DROPPED, "100", "20", timeout=60)
    before, after, threads_before, threads_after = map(int, out.split())
    assert after == before, (before, after)
    assert threads_after == threads_before, (threads_before, threads_after)
