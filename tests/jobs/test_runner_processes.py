"""``leader_only`` across processes: stop comes from the elector's own path; concurrent calls."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

import leaselect
from leaselect import SYSTEM_CLOCK
from tests.jobs.procs import stop_all
from tests.jobs.runner_log import lines, spawn, wait_for
from tests.support.jobs import JobStore, take_lease

pytestmark = pytest.mark.timeout(60)


def test_stop_is_not_queued_behind_a_slow_user_callback(
    job_store: JobStore, tmp_path: Path
) -> None:
    """The lease is taken while the user's on_elected still runs: stop must come at once."""
    log, name = tmp_path / "runs.log", f"slow-{uuid.uuid4().hex[:8]}"
    leaselect.connect(job_store.url).close()
    first = spawn(job_store, name, log, "slow-callback")
    procs = [first]
    try:
        wait_for(log, "start", 1)
        procs.append(spawn(job_store, name, log, "slow-callback"))
        time.sleep(0.5)
        taken = SYSTEM_CLOCK.now()
        take_lease(job_store, name)
        wait_for(log, "start", 2)
        stops = wait_for(log, "stop", 1)
    finally:
        stop_all(procs, log)
    # The first copy's on_elected still sleeps for about 2 s more: a stop queued behind it would
    # come that late. (Which of "first saw stop" and "second started" comes first is a race
    # between two processes: deleting the lease is outside every store's assumptions.)
    first_stop = float(stops[0][2])
    assert first_stop - taken < 1.0, f"stop came {first_stop - taken:.3f}s after the lease went"


def test_two_threads_calling_one_leader_function(job_store: JobStore, tmp_path: Path) -> None:
    """One call runs, the other is refused at once; the lease then hands over cleanly."""
    log, name = tmp_path / "runs.log", f"two-{uuid.uuid4().hex[:8]}"
    leaselect.connect(job_store.url).close()
    first = spawn(job_store, name, log, "two-callers")
    procs = [first]
    try:
        wait_for(log, "start", 1)
        assert wait_for(log, "refused", 1, 5)[0][1] == "AlreadyRunning"
        procs.append(spawn(job_store, name, log, "slow-free"))
        time.sleep(0.5)
        first.terminate()  # the first process's run must end and hand over
        assert first.wait(10) == 0
        starts = wait_for(log, "start", 2, 10)
    finally:
        stop_all(procs, log)
    assert {s[0] for s in starts} == {str(first.pid), str(procs[1].pid)}
    assert len(lines(log, "exit")) >= 1
