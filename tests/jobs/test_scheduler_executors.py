"""Every executor of a scheduler behind ``LeaderScheduler`` is gated, not only ``default``."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest
from apscheduler.executors.pool import (  # type: ignore[import-untyped]
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

import leaselect
from leaselect.errors import ConfigError
from leaselect.integrations.apscheduler import LeaderScheduler
from tests.support.jobs import JobStore

pytestmark = pytest.mark.timeout(60)
GRID = datetime(2020, 1, 1, tzinfo=timezone.utc)


def test_jobs_of_every_executor_run_only_on_the_leader(job_store: JobStore) -> None:
    name = f"exec-{uuid.uuid4().hex[:8]}"
    holder = leaselect.Elector(job_store.url, name, ttl=job_store.ttl)
    assert holder.acquire(10) is not None  # another elector leads first
    runs: Counter[str] = Counter()
    scheduler = BackgroundScheduler(timezone=timezone.utc, executors={"io": ThreadPoolExecutor(4)})
    gate = LeaderScheduler(scheduler, job_store.url, name, ttl=job_store.ttl)

    def add(alias: str) -> None:
        scheduler.add_job(
            runs.update,
            "interval",
            args=[[alias]],
            seconds=0.1,
            start_date=GRID,
            id=f"job-{alias}",
            executor=alias,
        )

    add("default")
    add("io")
    try:
        gate.start()
        scheduler.add_executor(ThreadPoolExecutor(2), "late")  # added after start
        add("late")
        time.sleep(1.0)
        as_follower = dict(runs)
        holder.release()
        time.sleep(1.0)
    finally:
        gate.shutdown()
        holder.close()
    assert not as_follower, f"jobs ran on a follower: {as_follower}"
    assert all(runs[alias] >= 3 for alias in ("default", "io", "late")), runs


def test_an_executor_that_cannot_be_gated_is_refused(tmp_path: object) -> None:
    scheduler = BackgroundScheduler(
        timezone=timezone.utc, executors={"cpu": ProcessPoolExecutor(2)}
    )
    with pytest.raises(ConfigError, match="'cpu'"):
        LeaderScheduler(scheduler, f"sqlite://{tmp_path}/x.db", "refuse", ttl=1.5)
