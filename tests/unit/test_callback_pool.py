"""Callbacks run on a process-wide pool of threads that linger while electors are open, so a
tenure's ``on_lost`` never waits for a thread to be started."""

from __future__ import annotations

import signal
import threading

import pytest

from leaselect import Elector, Lease, LostReason, pool
from leaselect.backend import Grant, Waiting
from leaselect.signalmask import PROCESS_SIGNALS, current_mask
from leaselect.testing import FakeClock
from tests.unit.driving import DEADLINE_AFTER, TTL, wait_for
from tests.unit.scripted import ScriptedBackend, ScriptedCandidacy


def pool_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    names = (pool.NAME, pool.IDLE_NAME)
    return [t for t in threading.enumerate() if t.name in names and t not in before]


def test_on_lost_runs_on_the_thread_that_ran_on_elected_without_a_thread_start(
    clock: FakeClock,
) -> None:
    ran_on: list[tuple[str, threading.Thread]] = []
    backend = ScriptedBackend()
    elector = Elector(
        backend,
        "job",
        ttl=TTL,
        clock=clock,
        on_elected=lambda lease: ran_on.append(("elected", threading.current_thread())),
        on_lost=lambda lease, reason: ran_on.append(("lost", threading.current_thread())),
    )
    try:
        assert elector.acquire(timeout=1.0) is not None
        assert wait_for(lambda: len(ran_on) == 1)
        assert wait_for(lambda: ran_on[0][1].name == pool.IDLE_NAME)  # back in the pool
        backend.mode = "fail"
        clock.advance(DEADLINE_AFTER + 0.01)
        assert wait_for(lambda: len(ran_on) == 2)
        assert [what for what, _ in ran_on] == ["elected", "lost"]
        assert ran_on[1][1] is ran_on[0][1], "on_lost waited for a new thread"
    finally:
        elector.close()


def test_one_electors_blocking_callback_does_not_hold_anothers(clock: FakeClock) -> None:
    release = threading.Event()
    elected = threading.Event()

    def block(lease: Lease) -> None:
        release.wait(10)

    blocking = Elector(ScriptedBackend(), "a", ttl=TTL, clock=clock, on_elected=block)
    other = Elector(
        ScriptedBackend(), "b", ttl=TTL, clock=clock, on_elected=lambda lease: elected.set()
    )
    try:
        assert blocking.acquire(timeout=1.0) is not None
        assert other.acquire(timeout=1.0) is not None
        assert elected.wait(5), "a blocking callback held another elector's callbacks"
    finally:
        release.set()
        blocking.close()
        other.close()


def test_idle_threads_are_few_and_end_when_the_last_elector_closes(clock: FakeClock) -> None:
    before = set(threading.enumerate())
    gate = threading.Event()
    running = threading.Semaphore(0)

    def on_elected(lease: Lease) -> None:
        running.release()
        gate.wait(10)

    electors = [
        Elector(ScriptedBackend(), f"job{i}", ttl=TTL, clock=clock, on_elected=on_elected)
        for i in range(6)
    ]
    try:
        for elector in electors:
            assert elector.acquire(timeout=1.0) is not None
        for _ in electors:
            assert running.acquire(timeout=5)
        busy = [t for t in threading.enumerate() if t.name == pool.NAME]
        assert len(busy) >= 6  # six callbacks at once: six threads
        gate.set()
        assert wait_for(
            lambda: (
                all(t.name == pool.IDLE_NAME for t in pool_threads(before))
                and len(pool_threads(before)) <= pool.KEEP_IDLE
            )
        ), [t.name for t in pool_threads(before)]
    finally:
        gate.set()
        for elector in electors:
            elector.close()
    assert wait_for(lambda: not pool_threads(before))


def test_an_idle_thread_ends_after_lingering(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool, "LINGER", 0.2)
    ran_on: list[threading.Thread] = []
    elector = Elector(
        ScriptedBackend(),
        "job",
        ttl=TTL,
        clock=clock,
        on_elected=lambda lease: ran_on.append(threading.current_thread()),
    )
    try:
        assert elector.acquire(timeout=1.0) is not None
        assert wait_for(lambda: bool(ran_on))
        assert wait_for(lambda: not ran_on[0].is_alive()), "the idle thread did not end"
        assert elector.is_leader
    finally:
        elector.close()


def test_idle_threads_block_process_signals_and_callbacks_run_with_the_electors_mask(
    clock: FakeClock,
) -> None:
    masks: list[set[int]] = []
    lost = threading.Event()

    def on_lost(lease: Lease, reason: LostReason) -> None:
        masks.append({int(s) for s in current_mask()})
        lost.set()

    made_with = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    try:
        backend = ScriptedBackend()
        elector = Elector(
            backend,
            "job",
            ttl=TTL,
            clock=clock,
            on_elected=lambda lease: masks.append(set()),
            on_lost=on_lost,
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, made_with)
    try:
        assert elector.acquire(timeout=1.0) is not None
        assert wait_for(lambda: bool(masks))
        idle = [t for t in threading.enumerate() if t.name == pool.IDLE_NAME]
        assert idle
        for thread in idle:
            assert thread.native_id is not None
            blocked = sigblk(thread.native_id)
            assert {int(s) for s in PROCESS_SIGNALS} <= blocked, (thread, blocked)
        backend.mode = "fail"
        clock.advance(DEADLINE_AFTER + 0.01)
        assert lost.wait(5)
        assert masks[-1] == {int(signal.SIGUSR2)} | {int(s) for s in made_with}
    finally:
        elector.close()


def sigblk(native_id: int) -> set[int]:
    """The signals a thread of this process blocks, from /proc."""
    with open(f"/proc/self/task/{native_id}/status") as status:
        for line in status:
            if line.startswith("SigBlk:"):
                bits = int(line.split()[1], 16)
                return {n + 1 for n in range(64) if bits >> n & 1}
    raise AssertionError("no SigBlk line")


def test_the_thread_that_won_runs_on_elected_itself_and_then_serves_the_pool(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hand-over wakes one thread fewer: the winning campaign thread has nothing left to do,
    so it runs the ``on_elected`` its win queued instead of waking a pool thread for it."""
    campaigned_on: list[threading.Thread] = []
    elected_on: list[threading.Thread] = []
    backend = ScriptedBackend()
    campaign = ScriptedCandidacy.campaign

    def recording(candidacy: ScriptedCandidacy, sent: float) -> Grant | Waiting:
        campaigned_on.append(threading.current_thread())
        return campaign(candidacy, sent)

    monkeypatch.setattr(ScriptedCandidacy, "campaign", recording)
    elector = Elector(
        backend,
        "job",
        ttl=TTL,
        clock=clock,
        on_elected=lambda lease: elected_on.append(threading.current_thread()),
    )
    try:
        elector.start()
        assert wait_for(lambda: bool(elected_on))
        assert elected_on[0] is campaigned_on[-1]
        assert wait_for(lambda: elected_on[0].name == pool.IDLE_NAME)  # now a pool thread
    finally:
        elector.close()


CLOSE_LEAVES_NOTHING = """
import threading, leaselect
from leaselect.testing import FakeClock
from tests.unit.scripted import ScriptedBackend
done = threading.Event()
elector = leaselect.Elector(ScriptedBackend(), "job", ttl=3.0, clock=FakeClock(),
                            on_elected=lambda lease: done.set())
assert elector.acquire(timeout=5) is not None and done.wait(5)
elector.close()
print(sorted(t.name for t in threading.enumerate() if t.name.startswith("leaselect-")))
"""


def test_no_leaselect_thread_is_alive_when_the_last_close_returns() -> None:
    import subprocess
    import sys

    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", CLOSE_LEAVES_NOTHING],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert out.strip() == "[]", out
