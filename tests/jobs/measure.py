"""Measure leader-only stop latencies (not a test): python -m tests.jobs.measure URL [ROUNDS]

runner: time from a tenure's loss (a release on another thread) to the ``stop`` event being
seen by the leader-only function. async: how late after the local deadline the ``async with``
body is cancelled when renewals fail (the backend is closed under the lease).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import uuid

import leaselect
from leaselect import SYSTEM_CLOCK, Lease
from leaselect.aio import AsyncElector
from leaselect.runner import LeaderOnly


def runner_stop_latency(url: str, ttl: float) -> float:
    runner = LeaderOnly(url, f"m-{uuid.uuid4().hex[:8]}", ttl=ttl)
    seen: list[float] = []

    def job(lease: Lease, stop: threading.Event) -> None:
        assert runner.elector is not None
        began = SYSTEM_CLOCK.now()
        threading.Thread(target=runner.elector.release).start()
        stop.wait()
        seen.append(SYSTEM_CLOCK.now() - began)
        runner.stop()

    runner.run(job)
    return seen[0]


async def async_cancel_lateness(url: str, ttl: float) -> float:
    backend = leaselect.connect(url)
    elector = AsyncElector(backend, f"m-{uuid.uuid4().hex[:8]}", ttl=ttl)
    deadline = 0.0
    try:
        async with elector as lease:
            backend.close()
            deadline = lease.deadline
            await asyncio.sleep(10 * ttl)
    except leaselect.LeaseLost:
        pass
    late = SYSTEM_CLOCK.now() - deadline
    await elector.close()
    return late


def summary(label: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"{label}: median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms (n={len(ms)})"


def main() -> None:
    url = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    ttl = 2.0 if url.startswith(("etcd", "zk")) else 1.0
    stops = [runner_stop_latency(url, ttl) for _ in range(rounds)]
    print(summary("runner: release -> stop seen", stops))
    lates = [asyncio.run(async_cancel_lateness(url, ttl)) for _ in range(max(3, rounds // 4))]
    print(summary("async: deadline -> body cancelled", lates))


if __name__ == "__main__":
    main()
