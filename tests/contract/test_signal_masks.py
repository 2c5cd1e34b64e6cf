"""Process signals reach the program's own threads on every store: every thread leaselect (or
the store's client) starts blocks them, so the kernel cannot hand a SIGTERM to a thread whose
delivery leaves a main thread parked in ``join()`` deaf; callbacks, and the processes they
start, run with the mask of the thread that made the elector."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import leaselect
from leaselect import Lease
from leaselect.aio import AsyncElector
from tests.support.signals import blocked_signals

WATCHED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)


def thread_blocks(native_id: int) -> set[int]:
    return blocked_signals(Path(f"/proc/self/task/{native_id}/status").read_text())


def test_leaselect_threads_leave_process_signals_to_the_program(
    store_url: str, election: str
) -> None:
    mine = thread_blocks(threading.get_native_id())
    assert not mine & set(WATCHED), "the test thread itself blocks a watched signal"
    before = {thread.ident for thread in threading.enumerate()}
    seen: dict[str, set[int]] = {}
    elected = threading.Event()

    def on_elected(lease: Lease) -> None:
        seen["callback"] = thread_blocks(threading.get_native_id())
        child = subprocess.run(
            ["cat", "/proc/self/status"], capture_output=True, text=True, check=True
        )
        seen["child"] = blocked_signals(child.stdout)
        elected.set()

    elector = leaselect.Elector(store_url, election, ttl=3.0, on_elected=on_elected)
    waiter = leaselect.Elector(store_url, election, ttl=3.0)  # a campaign thread of its own
    try:
        elector.start()
        assert elected.wait(10), "not elected"
        assert elector.is_leader
        waiter.start()  # it campaigns (and waits) on a thread while the leader has none
        started = [t for t in threading.enumerate() if t.ident not in before]
        deaf = {}
        for thread in started:
            if thread.name.startswith("leaselect-callbacks") or thread.native_id is None:
                continue
            try:
                missing = set(WATCHED) - thread_blocks(thread.native_id)
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended meanwhile
            if missing:
                deaf[thread.name] = sorted(signal.Signals(s).name for s in missing)
        assert not deaf, f"threads that would take a process signal: {deaf}"
        assert any(t.name.startswith("leaselect-campaign-") for t in started)
        assert any(t.name == "leaselect-keeper" for t in started)
        assert any(t.name == "leaselect-watchdog" for t in started)
    finally:
        waiter.close()
        elector.close()
    assert seen["callback"] == mine, "callbacks must run with the creating thread's mask"
    assert seen["child"] == mine, "a process started from a callback inherited blocked signals"


def test_async_elector_calls_the_store_on_threads_that_block_process_signals(
    store_url: str, election: str
) -> None:
    """``AsyncElector.leader/release/close`` run off the loop: not on the loop's default
    executor (a thread with the loop thread's mask), on a thread of leaselect's."""
    masks: dict[str, set[int]] = {}

    def recording(name: str, call: Callable[[], object]) -> Callable[[], object]:
        def wrapper() -> object:
            masks[name] = thread_blocks(threading.get_native_id())
            return call()

        return wrapper

    async def main() -> None:
        elector = AsyncElector(store_url, election, ttl=3.0)
        inner = elector.elector
        for name in ("leader", "release", "close"):
            setattr(inner, name, recording(name, getattr(inner, name)))
        assert await elector.acquire(timeout=10) is not None
        await elector.leader()
        await elector.release()
        await elector.close()

    asyncio.run(main())
    deaf = {name: set(WATCHED) - mask for name, mask in masks.items() if set(WATCHED) - mask}
    assert sorted(masks) == ["close", "leader", "release"]
    assert not deaf, f"store calls on threads that take process signals: {deaf}"
