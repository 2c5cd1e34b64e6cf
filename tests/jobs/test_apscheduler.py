"""A real APScheduler in several processes: no fire time runs twice, tenures never overlap.

Faults on the leader: kill -9, SIGSTOP longer than the TTL (then SIGCONT), graceful SIGTERM.
"""

from __future__ import annotations

import itertools
import os
import signal
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
from tests.support.jobs import JobStore
from tests.support.private import stop_clear_of_write_locks

pytestmark = pytest.mark.timeout(60)


def test_only_the_leader_runs_each_fire_time(job_store: JobStore, tmp_path: Path) -> None:
    ttl = job_store.ttl
    log = tmp_path / "runs.log"
    name = f"aps-{uuid.uuid4().hex[:10]}"
    leaselect.connect(job_store.url).close()  # create the store before three processes open it
    command = [
        sys.executable,
        "-m",
        "tests.jobs.scheduler_worker",
        job_store.url,
        name,
        str(log),
        str(ttl),
    ]
    procs = {p.pid: p for p in (subprocess.Popen(command, cwd=ROOT) for _ in range(3))}
    alive = set(procs)
    try:
        time.sleep(1.5 * ttl)
        victim = current_leader(log, alive, 10 * ttl)
        await_runs_of(log, victim, 10 * ttl)
        procs[victim].kill()  # crash
        alive.discard(victim)
        time.sleep(2.5 * ttl)
        paused = current_leader(log, alive, 10 * ttl)
        await_runs_of(log, paused, 10 * ttl)
        stop_clear_of_write_locks([paused])  # a pause longer than the TTL
        stopped = time.monotonic()
        taker = current_leader(log, alive - {paused}, 10 * ttl)
        await_runs_of(log, taker, 10 * ttl)
        time.sleep(max(0.0, 2 * ttl - (time.monotonic() - stopped)))
        os.kill(paused, signal.SIGCONT)
        time.sleep(1.5 * ttl)
        graceful = current_leader(log, alive, 10 * ttl)
        await_runs_of(log, graceful, 10 * ttl)
        procs[graceful].terminate()
        procs[graceful].wait(10)
        alive.discard(graceful)
        time.sleep(1.5 * ttl)
    finally:
        stop_all(list(procs.values()), log)
    check(log, crashed=victim, paused=paused)


def check(log: Path, crashed: int, paused: int) -> None:
    tenures, runs = read_log(log)
    twice = [fire for fire, n in Counter(fire for fire, _, _ in runs).items() if n > 1]
    assert not twice, f"fire times run twice: {twice}"
    assert len({pid for _, pid, _ in runs}) >= 3, "the faults did not move the jobs (vacuous)"
    assert len(runs) >= 20, f"only {len(runs)} job runs"
    now = SYSTEM_CLOCK.now()
    ordered = sorted(tenures.values(), key=lambda t: t.start)
    for tenure in ordered:
        if tenure.end is None:
            assert tenure.pid == crashed, f"tenure {tenure} never ended"
            tenure.end = max([end for _, _, end in tenure.jobs], default=tenure.start)
        for _fire, begin, end in tenure.jobs:
            assert tenure.start <= begin < tenure.end, (tenure, begin)
            # a job frozen by SIGSTOP ends late: the one case only the fencing token covers
            assert end <= tenure.end + 0.05 or tenure.pid == paused, (tenure, end)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.token < later.token
        assert earlier.end is not None and earlier.end <= later.start, (earlier, later)
    assert ordered[-1].end is not None and ordered[-1].end <= now
