"""One watchdog thread per clock follows every leading elector's tenure to its end."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from leaselect import Elector, Lease, LostReason
from leaselect.machine import Effect, Lost
from leaselect.testing import FakeClock
from tests.unit.driving import DEADLINE_AFTER, TTL, wait_for
from tests.unit.scripted import ScriptedBackend


def leaselect_threads(prefix: str, before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix) and t not in before]


def test_every_tenure_ends_at_its_deadline_with_one_watchdog_and_no_campaign_thread(
    clock: FakeClock,
) -> None:
    before = set(threading.enumerate())
    lost: dict[int, list[LostReason]] = {}
    backends = [ScriptedBackend() for _ in range(30)]

    def on_lost(index: int) -> Callable[[Lease, LostReason], None]:
        return lambda lease, reason: lost.setdefault(index, []).append(reason)

    electors = [
        Elector(backend, f"job{i}", ttl=TTL, clock=clock, on_lost=on_lost(i))
        for i, backend in enumerate(backends)
    ]
    try:
        for elector in electors:
            assert elector.acquire(timeout=1.0) is not None
        assert wait_for(lambda: not leaselect_threads("leaselect-campaign", before))
        assert len(leaselect_threads("leaselect-watchdog", before)) == 1
        for backend in backends:
            backend.mode = "fail"
        clock.advance(DEADLINE_AFTER + 0.01)
        assert wait_for(lambda: len(lost) == len(electors)), sorted(lost)
        assert all(reasons == [LostReason.UNREACHABLE] for reasons in lost.values()), lost
        assert not any(elector.is_leader for elector in electors)
    finally:
        for elector in electors:
            elector.close()
    assert wait_for(lambda: not leaselect_threads("leaselect-", before))


def child_exit_code(pid: int, limit: float) -> int | None:
    """The child's exit code; None (and the child killed) if it runs ``limit`` seconds."""
    for _ in range(int(limit / 0.05)):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        threading.Event().wait(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_an_elector_made_in_a_forked_child_gets_its_own_watchdog() -> None:
    """The parent leads on the system clock (its watchdog thread runs); a child forked from it
    has no such thread, so an elector made there must start one or it never sees its deadline."""
    parent = Elector(ScriptedBackend(), "parent", ttl=1.0)
    try:
        assert parent.acquire(timeout=5.0) is not None
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only if its tenure ends at its deadline
            code = 1
            try:
                backend = ScriptedBackend()
                lost = threading.Event()
                child = Elector(
                    backend, "child", ttl=1.0, on_lost=lambda *_: lost.set(), release_on_exit=False
                )
                lease: Lease | None = child.acquire(timeout=5.0)
                backend.mode = "fail"
                code = 0 if lease is not None and lost.wait(5.0) else 1
            finally:
                os._exit(code)
        assert child_exit_code(pid, limit=30.0) == 0, "the child's tenure never ended"
    finally:
        parent.close()


def test_every_due_tenure_ends_before_any_on_lost_thread_starts(clock: FakeClock) -> None:
    """Threads cost time to start: the watchdog sets ``lost`` of every tenure due at once
    before it starts any thread for them (one start per tick made the 200th ``lost`` 50 ms
    late)."""
    backends = [ScriptedBackend() for _ in range(40)]
    seen: list[bool] = []
    ended: list[Lost] = []
    electors: list[Elector] = []

    def on_lost(lease: Lease, reason: LostReason) -> None:
        seen.append(len(ended) >= len(electors))

    electors.extend(
        Elector(backend, f"job{i}", ttl=TTL, clock=clock, on_lost=on_lost)
        for i, backend in enumerate(backends)
    )

    def count_lost(effect: Effect) -> None:
        if isinstance(effect, Lost):
            ended.append(effect)

    for elector in electors:
        elector._observe(count_lost)
    resigned: list[bool] = []
    for backend in backends:  # the thread that follows a tenure's end resigns first
        backend.after_resign = lambda: resigned.append(len(ended) >= len(electors))
    try:
        for elector in electors:
            elector.start()
        assert wait_for(lambda: all(elector.is_leader for elector in electors))
        for backend in backends:
            backend.mode = "block"  # renewals hang: the watchdog ends the tenures
        clock.advance(DEADLINE_AFTER + 0.01)
        assert wait_for(lambda: len(seen) >= len(electors) and len(resigned) >= len(electors))
        assert all(seen[: len(electors)]), f"{seen.count(False)} on_lost before every lost"
        assert all(resigned[: len(electors)]), f"{resigned.count(False)} resigned before"
    finally:
        for backend in backends:
            backend.unblock.set()
        for elector in electors:
            elector.close()
