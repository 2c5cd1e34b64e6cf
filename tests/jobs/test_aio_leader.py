"""``leader_only`` over a coroutine function, on a real store: the result of a run that ends
while leading, a run again after a lost tenure, cancellation at the local deadline, stop()."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

import leaselect
from leaselect import ConfigError, Lease, leader_only
from leaselect.aio_leader import AsyncLeaderFunction
from leaselect.runner import AlreadyRunning, LeaderFunction
from tests.support.jobs import JobStore, take_lease

pytestmark = pytest.mark.timeout(60)


def fresh() -> str:
    return f"aio-leader-{uuid.uuid4().hex[:10]}"


def test_a_coroutine_function_runs_while_leading_and_returns_its_result(
    job_store: JobStore,
) -> None:
    name = fresh()

    @leader_only(job_store.url, name, ttl=job_store.ttl)
    async def job(lease: Lease, stop: asyncio.Event) -> int:
        observer = leaselect.connect(job_store.url)
        leader = observer.observe(name)
        observer.close()
        assert leader is not None and leader.token == lease.token
        await asyncio.sleep(0.05)
        return lease.token

    assert isinstance(job, AsyncLeaderFunction)
    token = asyncio.run(job())
    assert token is not None and token > 0
    observer = leaselect.connect(job_store.url)
    assert observer.observe(name) is None  # released once it returned
    observer.close()


def test_a_lost_tenure_cancels_the_body_at_the_deadline_and_runs_it_again(
    job_store: JobStore,
) -> None:
    name = fresh()
    starts: list[int] = []
    cancelled: list[float] = []

    @leader_only(job_store.url, name, ttl=job_store.ttl)
    async def job(lease: Lease, stop: asyncio.Event) -> str:
        starts.append(lease.token)
        if len(starts) == 1:
            take_lease(job_store, name)  # the next renewal finds it taken
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(leaselect.SYSTEM_CLOCK.now() - lease.deadline)
                raise
        return "done"

    began = time.monotonic()
    assert asyncio.run(job()) == "done"
    assert len(starts) == 2 and starts[1] > starts[0]
    assert cancelled and cancelled[0] < 0.25  # by the local deadline (or at the loss)
    assert time.monotonic() - began < 3 * job_store.ttl


def test_stop_is_signalled_before_the_deadline_and_stop_returns_none(job_store: JobStore) -> None:
    name = fresh()
    signalled: list[float] = []

    @leader_only(job_store.url, name, ttl=job_store.ttl, stop_grace=job_store.ttl / 4)
    async def job(lease: Lease, stop: asyncio.Event) -> str:
        await stop.wait()  # an outside stop(): the event is set at once
        signalled.append(lease.deadline - leaselect.SYSTEM_CLOCK.now())
        return "stopped early"

    async def main() -> str | None:
        running = asyncio.ensure_future(job())
        await asyncio.sleep(0.5)
        job.stop()
        return await running

    assert asyncio.run(main()) is None  # stop(): None, whatever the function returned
    assert signalled and signalled[0] > 0


def test_stop_cancels_a_body_that_ignores_it_after_the_grace(job_store: JobStore) -> None:
    @leader_only(job_store.url, fresh(), ttl=job_store.ttl, stop_grace=0.2)
    async def stubborn(lease: Lease, stop: asyncio.Event) -> int:
        await asyncio.sleep(60)
        return 1

    async def main() -> tuple[object, float]:
        running = asyncio.ensure_future(stubborn())
        await asyncio.sleep(0.5)
        asked = time.monotonic()
        stubborn.stop()
        return await running, time.monotonic() - asked

    result, took = asyncio.run(main())
    assert result is None and took < 2.0


def test_one_call_at_a_time_and_the_grace_is_checked(job_store: JobStore) -> None:
    name = fresh()

    @leader_only(job_store.url, name, ttl=job_store.ttl)
    async def job(lease: Lease, stop: asyncio.Event) -> None:
        await asyncio.sleep(0.3)

    async def twice() -> None:
        first = asyncio.ensure_future(job())
        await asyncio.sleep(0.05)
        with pytest.raises(AlreadyRunning):
            await job()
        await first

    asyncio.run(twice())

    @leader_only(job_store.url, name, ttl=job_store.ttl, stop_grace=job_store.ttl)
    async def greedy(lease: Lease, stop: asyncio.Event) -> None:
        pass

    with pytest.raises(ConfigError, match="stop_grace"):
        asyncio.run(greedy())
    with pytest.raises(ConfigError, match="stop_grace must not be negative"):
        leader_only(job_store.url, name, stop_grace=-1)


def test_a_plain_function_still_gets_the_threaded_runner(job_store: JobStore) -> None:
    @leader_only(job_store.url, fresh(), ttl=job_store.ttl)
    def job(lease: Lease, stop: object) -> int:
        return lease.token

    assert isinstance(job, LeaderFunction)
    token = job()
    assert token is not None and token > 0


def test_a_decorated_method_shares_one_call_and_stop_across_accesses(job_store: JobStore) -> None:
    """``service.job`` is a new bound object at each access; its state is the function's."""

    class Service:
        @leader_only(job_store.url, fresh(), ttl=job_store.ttl)
        async def job(self, lease: Lease, stop: asyncio.Event) -> str:
            await stop.wait()
            return "stopped"

    service = Service()

    async def main() -> object:
        running = asyncio.ensure_future(service.job())
        await asyncio.sleep(0.5)
        with pytest.raises(AlreadyRunning):
            await service.job()
        service.job.stop()  # a fresh access stops the running call
        return await asyncio.wait_for(running, 10)

    assert asyncio.run(main()) is None
