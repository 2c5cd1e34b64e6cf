"""A slow claim (``advance_mark`` blocked by a stalled store) never starts a job late.

The store is stalled by another client (``BEGIN EXCLUSIVE`` on the embedded store, ``CLIENT
PAUSE`` on Redis) while fire times are being claimed; every job records, as it starts, whether
its tenure could still run it. Rule: after the claim returns, the job starts only if this
process still leads with the same tenure, not in jeopardy, before the deadline.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

from leaselect import SYSTEM_CLOCK, Lease, LostReason
from leaselect.integrations.apscheduler import LeaderScheduler, current_job
from tests.support.jobs import JobStore, stall_store

pytestmark = pytest.mark.timeout(60)
GRID = datetime(2020, 1, 1, tzinfo=timezone.utc)


class Starts:
    """What each job saw at its start, and the tenures' ends."""

    def __init__(self) -> None:
        self.gate: LeaderScheduler | None = None
        self.bad: list[str] = []
        self.ok: list[float] = []
        self.lost: list[LostReason] = []

    def check(self) -> None:
        context, gate = current_job(), self.gate
        assert gate is not None
        now = SYSTEM_CLOCK.now()
        if now >= context.lease.deadline:
            self.bad.append(f"started {now - context.lease.deadline:.3f}s after the deadline")
        elif gate.elector.in_jeopardy:
            self.bad.append("started in jeopardy")
        elif context.stop.is_set():
            self.bad.append("started with stop set")
        elif gate.elector.lease is not context.lease:
            self.bad.append("started under a superseded tenure")
        else:
            self.ok.append(now)

    def on_lost(self, lease: Lease, reason: LostReason) -> None:
        self.lost.append(reason)


def gate_for(scheduler: Any, store: JobStore, starts: Starts, ttl: float, **options: Any) -> Any:
    gate = LeaderScheduler(
        scheduler,
        store.url,
        f"claim-{uuid.uuid4().hex[:8]}",
        ttl=ttl,
        on_lost=starts.on_lost,
        **options,
    )
    starts.gate = gate
    return gate


def test_no_job_starts_after_a_claim_outlived_its_tenure(job_store: JobStore) -> None:
    """A stall longer than the lease: claims in flight return after the local deadline."""
    starts = Starts()
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    gate = gate_for(scheduler, job_store, starts, 1.5)
    scheduler.add_job(
        starts.check, "interval", seconds=0.1, start_date=GRID, id="tick", misfire_grace_time=10
    )
    gate.start()
    try:
        time.sleep(1.0)
        before = len(starts.ok)
        stall_store(job_store, 2.0)
        time.sleep(1.5)
    finally:
        gate.shutdown()
    assert before >= 3 and starts.lost, f"vacuous: {before} runs before, losses {starts.lost}"
    assert not starts.bad, starts.bad


def test_no_job_starts_in_jeopardy_after_a_slow_claim(job_store: JobStore) -> None:
    """A stall shorter than the lease: claims in flight return while renewals still fail."""
    starts = Starts()
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    gate = gate_for(scheduler, job_store, starts, 3.0, renew_interval=0.5)
    scheduler.add_job(
        starts.check, "interval", seconds=0.1, start_date=GRID, id="tick", misfire_grace_time=10
    )
    gate.start()
    try:
        time.sleep(1.0)
        stall_store(job_store, 1.4)
        resumed = SYSTEM_CLOCK.now()
        time.sleep(1.5)
        lost = list(starts.lost)
    finally:
        gate.shutdown()
    assert not lost, f"the stall cost the lease (vacuous): {lost}"
    assert not starts.bad, starts.bad
    assert len([t for t in starts.ok if t > resumed]) >= 5, "jobs did not resume"


def test_no_async_job_runs_after_a_claim_outlived_its_tenure(job_store: JobStore) -> None:
    starts = Starts()

    async def tick() -> None:
        starts.check()
        await asyncio.sleep(0.01)

    async def main() -> None:
        scheduler = AsyncIOScheduler(timezone=timezone.utc)
        gate = gate_for(scheduler, job_store, starts, 1.5)
        scheduler.add_job(
            tick, "interval", seconds=0.1, start_date=GRID, id="tick", misfire_grace_time=10
        )
        gate.start()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(stall_store, job_store, 2.0)
        await asyncio.sleep(1.5)
        gate.shutdown()

    asyncio.run(main())
    assert starts.ok and starts.lost, f"vacuous: {len(starts.ok)} runs, losses {starts.lost}"
    assert not starts.bad, starts.bad


def test_claims_never_block_past_the_deadline(job_store: JobStore) -> None:
    """A claim stuck behind a stalled store gives up at the local deadline."""
    starts = Starts()
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    gate = gate_for(scheduler, job_store, starts, 1.5)
    gate.start()
    try:
        deadline = time.monotonic() + 5
        while gate.elector.lease is None and time.monotonic() < deadline:
            time.sleep(0.02)
        tenure = gate.admit(datetime.now(timezone.utc))
        assert tenure is not None
        outcome: list[tuple[bool, float]] = []

        def claim() -> None:
            fire = datetime.now(timezone.utc)
            outcome.append((gate.claim("tick", fire, tenure), SYSTEM_CLOCK.now()))

        stall = threading.Thread(target=stall_store, args=(job_store, 3.0))
        stall.start()
        time.sleep(0.1)
        claim()
        stall.join()
    finally:
        gate.shutdown()
    claimed, returned = outcome[0]
    assert not claimed
    assert returned <= tenure.lease.deadline + 0.1, "the claim blocked past the deadline"


def test_fire_times_due_while_a_claim_waits_are_held_not_dropped(job_store: JobStore) -> None:
    """A short stall (no jeopardy): fire times of the job falling due while its claim waits
    are held behind it and run afterwards, not refused as "maximum number of running
    instances reached"."""
    starts = Starts()
    fires: list[datetime] = []
    refused: list[Any] = []

    def tick() -> None:
        starts.check()
        fires.append(current_job().fire_time)

    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.add_listener(refused.append, EVENT_JOB_MAX_INSTANCES)
    gate = gate_for(scheduler, job_store, starts, 3.0, renew_interval=1.0)
    scheduler.add_job(
        tick,
        "interval",
        seconds=0.1,
        start_date=GRID,
        id="tick",
        misfire_grace_time=10,
        coalesce=False,
    )
    gate.start()
    try:
        time.sleep(1.0)
        stalled = datetime.now(timezone.utc)
        stall_store(job_store, 0.4)
        time.sleep(1.0)
        lost = list(starts.lost)
    finally:
        gate.shutdown()
    assert not lost and not starts.bad, (lost, starts.bad)
    assert not refused, f"{len(refused)} fire time(s) dropped while a claim waited"
    window = sorted(f for f in fires if stalled <= f <= stalled + timedelta(seconds=0.9))
    assert len(window) >= 8, f"fire times after the stall began: {window}"
