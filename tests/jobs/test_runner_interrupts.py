"""``LeaderOnly`` when ``run`` ends early: interrupts, ``stop()`` beside a laggard, stop_grace."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest

import leaselect
from leaselect import Lease
from leaselect.runner import LeaderOnly
from tests.jobs.procs import stop_all
from tests.jobs.runner_log import spawn, wait_for
from tests.support.jobs import JobStore

pytestmark = pytest.mark.timeout(60)


def test_interrupted_run_stops_the_function_before_another_process_leads(
    job_store: JobStore, tmp_path: Path
) -> None:
    """Ctrl-C in ``run``'s thread: ``stop`` is set before the lease is released."""
    log, name = tmp_path / "runs.log", f"int-{uuid.uuid4().hex[:8]}"
    leaselect.connect(job_store.url).close()
    worker = spawn(job_store, name, log, "sigint")
    other = leaselect.Elector(job_store.url, name, ttl=job_store.ttl)
    try:
        wait_for(log, "start", 1)
        worker.send_signal(signal.SIGINT)
        lease = other.acquire(10 * job_store.ttl)
        elected_at = leaselect.SYSTEM_CLOCK.now()
        assert lease is not None
        wait_for(log, "interrupted", 1)
        stops = wait_for(log, "stop", 1, 5)
    finally:
        other.close()
        stop_all([worker], log)
    assert float(stops[0][2]) <= elected_at, "another process led before the function saw stop"


def test_run_after_stop_waits_for_the_previous_copy(job_store: JobStore) -> None:
    """``stop()`` with a function ignoring it: the next ``run`` never starts a second copy."""
    runner = LeaderOnly(job_store.url, f"lag-{uuid.uuid4().hex[:8]}", ttl=job_store.ttl)
    lock, running, peak, calls = threading.Lock(), [0], [0], [0]

    def job(lease: Lease, stop: threading.Event) -> int:
        with lock:
            calls[0] += 1
            n = calls[0]
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            if n == 1:
                stop.wait()
                time.sleep(2 * job_store.ttl)  # ignores stop
            return n
        finally:
            with lock:
                running[0] -= 1

    threading.Timer(0.3, runner.stop).start()
    assert runner.run(job) is None
    assert runner.run(job) == 2
    assert peak[0] == 1, "two copies of the function ran at once in one process"


def test_function_returning_at_stop_grace_while_leading_has_finished(tmp_path: Path) -> None:
    """stop_grace set ``stop`` during a store stall; the function returned while the lease was
    still valid: that is a finished run (its result is returned), not re-run."""
    path = tmp_path / "grace.db"
    url, ttl = f"sqlite://{path}", 3.0
    leaselect.connect(url).close()
    runner = LeaderOnly(url, "grace", ttl=ttl, stop_grace=1.0)
    calls: list[float] = []

    def stall() -> None:
        db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        time.sleep(ttl)
        db.execute("COMMIT")
        db.close()

    def job(lease: Lease, stop: threading.Event) -> str:
        calls.append(lease.deadline)
        if len(calls) > 1:
            return "second"
        threading.Thread(target=stall).start()
        assert stop.wait(2 * ttl)
        left = lease.deadline - leaselect.SYSTEM_CLOCK.now()
        assert left > 0.5, f"stop came only {left:.3f}s before the deadline"
        return "first"

    assert runner.run(job) == "first"
    assert len(calls) == 1
