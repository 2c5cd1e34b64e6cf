"""``leaselect.aio.watch`` and ``AsyncElector(on_new_leader=...)`` in a real event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import leaselect
from leaselect.aio import AsyncElector, watch
from leaselect.lease import Leader


def test_an_async_watch_reports_changes_and_a_cancel_stops_it_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"

    async def scenario() -> list[str | None]:
        seen: list[str | None] = []
        changes = watch(url, "svc")

        async def follow() -> None:
            async for change in changes:
                seen.append(change.leader.identity if change.leader else None)

        task = asyncio.create_task(follow())
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
        elector = AsyncElector(url, "svc", ttl=5, identity="a")
        try:
            async with elector as lease:
                assert lease is not None
                for _ in range(100):
                    if "a" in seen:
                        break
                    await asyncio.sleep(0.02)
        finally:
            await elector.close()  # not left to the garbage collector (its metrics series)
        cancelled = time.monotonic()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await changes.aclose()
        assert time.monotonic() - cancelled < 1.0
        return seen

    assert asyncio.run(scenario())[:2] == [None, "a"]
    assert not [t for t in threading.enumerate() if t.name == "leaselect-leader-feed"]


def test_an_async_watch_ends_at_its_timeout(tmp_path: Path) -> None:
    async def scenario() -> list[leaselect.LeaderChange]:
        return [change async for change in watch(f"sqlite:///{tmp_path}/a.db", "x", timeout=0.3)]

    assert [c.leader for c in asyncio.run(scenario())] == [None]


def test_async_on_new_leader_runs_in_the_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"

    async def scenario() -> list[tuple[str | None, bool]]:
        loop = asyncio.get_running_loop()
        told: list[tuple[str | None, bool]] = []

        async def on_new_leader(leader: Leader | None) -> None:
            told.append((leader.identity if leader else None, asyncio.get_running_loop() is loop))

        elector = AsyncElector(url, "svc", ttl=5, identity="a", on_new_leader=on_new_leader)
        async with elector:
            for _ in range(100):
                if ("a", True) in told:
                    break
                await asyncio.sleep(0.02)
        await elector.close()
        return told

    assert ("a", True) in asyncio.run(scenario())
    assert not [t for t in threading.enumerate() if t.name.startswith("leaselect-leader-watch")]
