"""``AsyncElector`` on a real store: async with, acquire, a blocked loop, loss -> LeaseLost."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

import leaselect
from leaselect import Lease, LostReason
from leaselect.aio import AsyncElector
from leaselect.runner import AlreadyRunning
from tests.support.jobs import JobStore, take_lease

pytestmark = pytest.mark.timeout(60)


def fresh() -> str:
    return f"aio-{uuid.uuid4().hex[:10]}"


def test_async_with_and_callbacks_in_the_loop(job_store: JobStore) -> None:
    events: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def elected(lease: Lease) -> None:
            assert asyncio.get_running_loop() is loop
            events.append(f"elected {lease.token}")

        async def lost(lease: Lease, reason: LostReason) -> None:
            events.append(f"lost {lease.token} {reason.value}")

        elector = AsyncElector(
            job_store.url, fresh(), ttl=job_store.ttl, on_elected=elected, on_lost=lost
        )
        async with elector as lease:
            assert elector.is_leader and elector.lease is lease
            leader = await elector.leader()
            assert leader is not None and leader.token == lease.token
        assert not elector.is_leader
        await asyncio.sleep(0.2)
        await elector.close()
        assert events == [f"elected {lease.token}", f"lost {lease.token} released"]

    asyncio.run(main())


def test_acquire_does_not_block_the_loop_and_times_out(job_store: JobStore) -> None:
    name = fresh()

    async def main() -> None:
        holder = AsyncElector(job_store.url, name, ttl=job_store.ttl)
        other = AsyncElector(job_store.url, name, ttl=job_store.ttl)
        assert await holder.acquire(timeout=5) is not None
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        assert await other.acquire(timeout=0.5) is None
        assert ticks >= 3  # the loop ran while other waited (a blocked loop: 0 or 1 tick)
        waiting = asyncio.create_task(other.acquire(timeout=5))
        await asyncio.sleep(0.1)
        await holder.release()
        lease = await waiting
        assert lease is not None and other.is_leader
        ticker.cancel()
        await other.close()
        await holder.close()

    asyncio.run(main())


def test_blocked_loop_does_not_starve_renewal(job_store: JobStore) -> None:
    async def main() -> None:
        elector = AsyncElector(job_store.url, fresh(), ttl=job_store.ttl)
        async with elector as lease:
            time.sleep(2.5 * job_store.ttl)  # blocking code on the loop, longer than the TTL
            assert elector.is_leader and elector.lease is lease
            await asyncio.sleep(0)
        await elector.close()

    asyncio.run(main())


def test_loss_cancels_the_body_by_the_deadline_then_raises_lease_lost(job_store: JobStore) -> None:
    async def main() -> float:
        backend = leaselect.connect(job_store.url)
        elector = AsyncElector(backend, fresh(), ttl=job_store.ttl)
        with pytest.raises(leaselect.LeaseLost):
            async with elector as lease:
                backend.close()  # renewals fail from now on (like a cut network)
                deadline = lease.deadline
                await asyncio.sleep(30)
        late = leaselect.SYSTEM_CLOCK.now() - deadline
        assert asyncio.current_task() is not None
        await asyncio.sleep(0)  # the task is not left cancelled
        await elector.close()
        return late

    late = asyncio.run(main())
    assert late < 0.25, f"body cancelled {late:.3f}s after the deadline"


def test_a_second_async_with_on_one_elector_is_refused(job_store: JobStore) -> None:
    """Nested or concurrent ``async with`` blocks on one elector: the second is refused."""

    async def main() -> None:
        elector = AsyncElector(job_store.url, fresh(), ttl=job_store.ttl)
        async with elector:
            with pytest.raises(AlreadyRunning):
                async with elector:
                    pytest.fail("a nested body ran")
            assert elector.is_leader  # the outer tenure is untouched

            async def other_task() -> None:
                async with elector:
                    pytest.fail("a concurrent body ran")

            with pytest.raises(AlreadyRunning):
                await asyncio.create_task(other_task())
            assert elector.is_leader
        async with elector as lease:  # once the block is over, the elector is usable again
            assert lease.token > 0
        await elector.close()

    asyncio.run(main())


def test_a_body_that_outlives_its_lease_without_awaiting_raises_lease_lost(
    job_store: JobStore,
) -> None:
    async def main() -> None:
        backend = leaselect.connect(job_store.url)
        elector = AsyncElector(backend, fresh(), ttl=job_store.ttl)
        with pytest.raises(leaselect.LeaseLost):
            async with elector as lease:
                backend.close()  # renewals fail from now on
                time.sleep(lease.deadline - leaselect.SYSTEM_CLOCK.now() + 0.2)  # no await
        await elector.close()

    asyncio.run(main())


def test_coroutine_callbacks_are_serialized_per_tenure(job_store: JobStore) -> None:
    """A long async on_elected finishes before on_lost starts; an async on_lost holds back the
    next tenure (its on_elected starts only after on_lost returned), as with ``Elector``."""
    name, events = fresh(), []

    async def elected(lease: Lease) -> None:
        events.append(("elected", lease.token, time.monotonic()))
        if len([e for e in events if e[0] == "elected"]) == 1:
            take_lease(job_store, name)  # tenure 1 ends while this callback still runs
            await asyncio.sleep(1.5 * job_store.ttl)
        events.append(("elected-done", lease.token, time.monotonic()))

    async def lost(lease: Lease, reason: LostReason) -> None:
        events.append(("lost", lease.token, time.monotonic()))
        await asyncio.sleep(1.0)
        events.append(("lost-done", lease.token, time.monotonic()))

    async def main() -> None:
        elector = AsyncElector(
            job_store.url, name, ttl=job_store.ttl, on_elected=elected, on_lost=lost
        )
        elector.start()
        until = time.monotonic() + 10 * job_store.ttl
        while len([e for e in events if e[0] == "elected-done"]) < 2:
            assert time.monotonic() < until, events
            await asyncio.sleep(0.02)
        await elector.close()

    asyncio.run(main())
    kinds = [kind for kind, _, _ in events][:6]
    assert kinds == ["elected", "elected-done", "lost", "lost-done", "elected", "elected-done"], (
        events
    )
    times = [at for _, _, at in events]
    assert times == sorted(times)
