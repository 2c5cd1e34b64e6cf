"""LeaderScheduler in one process on a real store: async jobs, skipped fire times, shutdown."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

import leaselect
from leaselect import SYSTEM_CLOCK
from leaselect.integrations.apscheduler import EVENT_JOB_SKIPPED, LeaderScheduler, current_job
from tests.support.jobs import JobStore, take_lease

pytestmark = pytest.mark.timeout(60)
GRID = datetime(2020, 1, 1, tzinfo=timezone.utc)


def fresh() -> str:
    return f"aps-{uuid.uuid4().hex[:10]}"


def test_async_jobs_run_and_are_cancelled_at_the_loss(job_store: JobStore) -> None:
    name = fresh()
    ran: list[int] = []
    cancelled: list[float] = []

    async def tick() -> None:
        ran.append(current_job().lease.token)
        if len(ran) == 3:
            take_lease(job_store, name)  # the lease is taken while this job runs
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(SYSTEM_CLOCK.now())
                raise

    async def main() -> None:
        scheduler = AsyncIOScheduler(timezone=timezone.utc)
        gate = LeaderScheduler(scheduler, job_store.url, name, ttl=job_store.ttl)
        scheduler.add_job(tick, "interval", seconds=0.1, start_date=GRID, id="tick")
        gate.start()
        until = time.monotonic() + 5
        while not cancelled and time.monotonic() < until:
            await asyncio.sleep(0.05)
        gate.shutdown()

    asyncio.run(main())
    assert len(ran) >= 3 and cancelled, f"async jobs ran {len(ran)} times, cancelled={cancelled}"


def test_a_follower_reports_skipped_fire_times(job_store: JobStore) -> None:
    name = fresh()
    skipped: list[Any] = []
    gates = []
    for _ in range(2):
        scheduler = BackgroundScheduler(timezone=timezone.utc)
        gate = LeaderScheduler(scheduler, job_store.url, name, ttl=job_store.ttl)
        scheduler.add_job(lambda: None, "interval", seconds=0.1, start_date=GRID, id="tick")
        gates.append(gate)
    gates[0].start()
    time.sleep(0.5)
    gates[1].scheduler.add_listener(skipped.append, EVENT_JOB_SKIPPED)
    gates[1].start()
    time.sleep(1.0)
    for gate in reversed(gates):
        gate.shutdown()
    assert len(skipped) >= 5 and all(e.code == EVENT_JOB_SKIPPED for e in skipped)
    assert all(e.job_id == "tick" and e.scheduled_run_times for e in skipped)


def test_shutdown_without_wait_steps_down_only_after_running_jobs(job_store: JobStore) -> None:
    """shutdown(wait=False) still keeps the lease until running jobs returned (or the deadline)."""
    started, finished = threading.Event(), []

    def slow() -> None:
        started.set()
        time.sleep(0.5)  # ignores stop for a while
        finished.append(SYSTEM_CLOCK.now())

    scheduler = BackgroundScheduler(timezone=timezone.utc)
    gate = LeaderScheduler(scheduler, job_store.url, fresh(), ttl=job_store.ttl)
    scheduler.add_job(slow, "interval", seconds=0.1, start_date=GRID, id="slow")
    gate.start()
    assert started.wait(5)
    gate.shutdown(wait=False)
    stepped_down = SYSTEM_CLOCK.now()
    assert finished and finished[0] <= stepped_down, "stepped down while a job still ran"


def test_shutdown_twice_is_quiet(job_store: JobStore, caplog: pytest.LogCaptureFixture) -> None:
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    gate = LeaderScheduler(scheduler, job_store.url, fresh(), ttl=job_store.ttl)
    scheduler.add_job(lambda: None, "interval", seconds=0.1, start_date=GRID, id="tick")
    gate.start()
    time.sleep(0.3)
    with caplog.at_level(logging.INFO, logger="leaselect"):
        gate.shutdown()
        gate.shutdown()
    warnings = [  # leaselect's own records: a client left by another test may log too
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("leaselect")
    ]
    assert not warnings, warnings


def test_shutdown_in_the_loop_waits_for_thread_pool_jobs(job_store: JobStore) -> None:
    """AsyncIOScheduler, shutdown() called in the loop: plain-function jobs (thread pool) can
    finish while the loop is blocked, so the lease is kept until they returned."""
    name = fresh()
    started, finished, elected = threading.Event(), [], []
    other = leaselect.Elector(
        job_store.url,
        name,
        ttl=job_store.ttl,
        on_elected=lambda lease: elected.append(SYSTEM_CLOCK.now()),
    )

    def slow() -> None:
        started.set()
        time.sleep(0.5)  # ignores stop for a while
        finished.append(SYSTEM_CLOCK.now())

    async def main() -> None:
        scheduler = AsyncIOScheduler(timezone=timezone.utc)
        gate = LeaderScheduler(scheduler, job_store.url, name, ttl=job_store.ttl)
        scheduler.add_job(slow, "interval", seconds=0.1, start_date=GRID, id="slow")
        gate.start()
        while not started.is_set():
            await asyncio.sleep(0.01)
        other.start()
        gate.shutdown()

    try:
        asyncio.run(main())
        until = time.monotonic() + 10
        while not elected and time.monotonic() < until:
            time.sleep(0.02)
    finally:
        other.close()
    assert finished and elected, f"vacuous: finished={finished} elected={elected}"
    assert finished[0] <= elected[0], "another elector led while a thread-pool job still ran"
