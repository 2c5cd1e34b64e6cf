"""APScheduler across processes: a stall that recovers, and hosts whose wall clocks disagree.

Each test runs real ``tests.jobs.scheduler_worker`` processes (a ``BackgroundScheduler`` with a
0.2 s interval job behind ``LeaderScheduler``) on the embedded store and a real one.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

import leaselect
from leaselect import SYSTEM_CLOCK
from tests.jobs.procs import stop_all
from tests.jobs.scheduler_log import await_runs_of, current_leader, read_log
from tests.support import ROOT
from tests.support.jobs import JobStore, stall_store

pytestmark = pytest.mark.timeout(90)


def spawn(store: JobStore, name: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    args = [store.url, name, str(log), "3.0", *extra]
    return subprocess.Popen([sys.executable, "-m", "tests.jobs.scheduler_worker", *args], cwd=ROOT)


def test_jobs_run_again_after_a_stall_that_recovers(job_store: JobStore, tmp_path: Path) -> None:
    """Jeopardy pauses admission; the renewal that gets through resumes it (same leader)."""
    log, name = tmp_path / "runs.log", f"stall-{uuid.uuid4().hex[:8]}"
    leaselect.connect(job_store.url).close()
    # renew every 0.5 s: a 1.4 s stall always crosses the jeopardy point (0.75 s after the last
    # renewal) and always ends before the local deadline (2.61 s after it)
    procs = [spawn(job_store, name, log, "0.5") for _ in range(2)]
    try:
        leader = current_leader(log, {p.pid for p in procs}, 15)
        time.sleep(1.0)
        stalled_at = SYSTEM_CLOCK.now()
        stall_store(job_store, 1.4)
        resumed = SYSTEM_CLOCK.now()
        time.sleep(2.5)
    finally:
        stop_all(procs, log)
    tenures, _ = read_log(log)
    jeopardized = [t for t in tenures.values() if t.pid == leader and t.start < stalled_at]
    assert jeopardized and all(t.end is None or t.end > resumed + 2.0 for t in jeopardized), (
        f"the stall cost the lease (the test needs a stall that recovers): {tenures}"
    )
    after = [begin for t in tenures.values() for _, begin, _ in t.jobs if begin > resumed + 0.5]
    assert len(after) >= 5, f"{len(after)} job runs in the 2 s after the stall: jobs stopped"


def test_a_skewed_clock_never_runs_a_fire_time_twice(job_store: JobStore, tmp_path: Path) -> None:
    """A hands over to B, whose wall clock is 1 s behind: B must skip what A already ran."""
    log, name = tmp_path / "runs.log", f"skew-{uuid.uuid4().hex[:8]}"
    leaselect.connect(job_store.url).close()
    first = spawn(job_store, name, log)
    procs = [first]
    try:
        assert current_leader(log, {first.pid}, 15) == first.pid
        procs.append(spawn(job_store, name, log, "-", "-1.0"))
        time.sleep(2.0)
        first.terminate()  # a graceful handover to the skewed process
        first.wait(15)
        time.sleep(2.5)
    finally:
        stop_all(procs, log)
    _, runs = read_log(log)
    twice = sorted(fire for fire, n in Counter(f for f, _, _ in runs).items() if n > 1)
    assert not twice, f"fire times run twice: {twice}"
    pids = {pid for _, pid, _ in runs}
    assert pids == {p.pid for p in procs}, "the handover did not move the jobs (vacuous)"


def test_three_skewed_hosts_in_turn(job_store: JobStore, tmp_path: Path) -> None:
    """Three processes at +0.2 s, 0 s and -0.2 s; the leader is stopped twice."""
    log, name = tmp_path / "runs.log", f"skew3-{uuid.uuid4().hex[:8]}"
    leaselect.connect(job_store.url).close()
    procs = [spawn(job_store, name, log, "-", skew) for skew in ("0.2", "0", "-0.2")]
    alive = {p.pid: p for p in procs}
    try:
        for _ in range(2):
            time.sleep(1.5)
            leader = current_leader(log, set(alive), 15)
            await_runs_of(log, leader, 15)  # the jobs move only from a leader that ran some
            alive.pop(leader).terminate()
        time.sleep(2.0)
    finally:
        stop_all(procs, log)
    _, runs = read_log(log)
    twice = sorted(fire for fire, n in Counter(f for f, _, _ in runs).items() if n > 1)
    assert not twice, f"fire times run twice: {twice}"
    assert len({pid for _, pid, _ in runs}) == 3, "the jobs did not move (vacuous)"
