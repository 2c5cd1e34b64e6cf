"""Edges of the Elector's contract: huge timeouts, unanswered renewals, odd numbers, rounds that
straddle tenures, acquire() next to start(), and what a raising callback logs."""

from __future__ import annotations

import logging
import threading
from fractions import Fraction
from typing import Any

import pytest

from leaselect import Elector, Lease, LostReason, Timing
from leaselect.machine import ElectionMachine, Lost
from leaselect.testing import FakeClock
from tests.unit.driving import (
    DEADLINE_AFTER,
    SETTLE,
    TTL,
    Recorder,
    advance_until_renewed,
    wait_for,
)
from tests.unit.scripted import ScriptedBackend

# -- acquire(timeout) of any finite size ------------------------------------------------------


@pytest.mark.parametrize("timeout", [1e10, 1e300, 2 * threading.TIMEOUT_MAX])
def test_acquire_waits_with_any_finite_timeout(timeout: float) -> None:
    """A timeout above what threading can wait for is waited like None, not an OverflowError."""
    backend = ScriptedBackend()
    holder = Elector(backend, "job", ttl=1.0, release_on_exit=False)
    waiter = Elector(backend, "job", ttl=1.0, release_on_exit=False)
    result: list[object] = []
    try:
        assert holder.acquire(timeout=SETTLE) is not None

        def acquire() -> None:
            try:
                result.append(waiter.acquire(timeout=timeout))
            except BaseException as exc:  # the test reports it
                result.append(exc)

        thread = threading.Thread(target=acquire, daemon=True)
        thread.start()
        assert not wait_for(lambda: bool(result), settle=0.3), f"returned early: {result}"
        holder.release()
        thread.join(SETTLE)
        assert len(result) == 1 and isinstance(result[0], Lease), result
        assert waiter.is_leader
    finally:
        waiter.close()
        holder.close()


class _RaisingClock(FakeClock):
    """A clock whose wait for one timeout raises, as a KeyboardInterrupt in acquire() would."""

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if timeout == 1234.5:
            raise KeyboardInterrupt
        return super().wait(event, timeout)


def test_an_acquire_that_raises_leaves_no_campaign_behind(
    backend: ScriptedBackend, recorder: Recorder
) -> None:
    clock = _RaisingClock()
    holder = Elector(backend, "job", ttl=TTL, clock=clock, release_on_exit=False)
    waiter = Elector(
        backend, "job", ttl=TTL, clock=clock, on_elected=recorder.elected, release_on_exit=False
    )
    try:
        assert holder.acquire() is not None
        with pytest.raises(KeyboardInterrupt):
            waiter.acquire(timeout=1234.5)
        holder.release()  # the store wakes its waiters: a campaign still running wins now
        assert not wait_for(lambda: bool(recorder.calls), settle=0.5), recorder.calls
        assert not any(t.name == "leaselect-campaign-job" for t in threading.enumerate())
    finally:
        waiter.close()
        holder.close()


# -- a renewal that never answers ends the tenure as unreachable -----------------------------


def test_a_keep_alive_that_never_answers_ends_the_tenure_unreachable(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    assert elector.acquire() is not None
    backend.mode = "block"  # a black-holed connection: the request is sent, no reply comes
    advance_until_renewed(clock, backend, 3.0)
    clock.advance(DEADLINE_AFTER - 3.0)
    assert recorder.lost.wait(SETTLE)
    assert recorder.calls == [("elected", 1, None), ("lost", 1, LostReason.UNREACHABLE)]


def test_the_deadline_is_unreachable_once_a_renewal_was_overdue_expired_before() -> None:
    timing = Timing(ttl=9.0, drift=0.0, margin=1.0)  # renew every 3 s, overdue at +4.5 s
    machine = ElectionMachine("job", "me", timing)
    machine.elected(token=1, granted_ttl=9.0, sent=100.0, now=100.0)
    [lost] = machine.tick(108.0)
    assert isinstance(lost, Lost) and lost.reason is LostReason.UNREACHABLE
    # a grant too short to reach its first renewal runs out before any renewal was overdue
    machine.elected(token=2, granted_ttl=4.0, sent=200.0, now=200.0)
    [lost] = machine.tick(203.0)
    assert isinstance(lost, Lost) and lost.reason is LostReason.EXPIRED


# -- any numbers.Real is a number of seconds ---------------------------------------------------


def test_fractions_are_accepted_as_seconds(backend: ScriptedBackend, clock: FakeClock) -> None:
    fractions: dict[str, Any] = {
        "ttl": Fraction(9),
        "renew_interval": Fraction(3),
        "margin": Fraction(9, 10),
        "drift": Fraction(1, 100),
    }
    timing = Timing(**fractions)
    assert timing.ttl == 9.0 and type(timing.ttl) is float and timing.safety_margin == 0.9
    seconds: dict[str, Any] = {"ttl": Fraction(9), "margin": Fraction(1, 2)}
    elector = Elector(backend, "job", clock=clock, release_on_exit=False, **seconds)
    try:
        lease = elector.acquire()
        assert lease is not None and lease.ttl == 9.0
    finally:
        elector.close()


# -- a keep-alive round older than the tenure never ends it ------------------------------------


def test_a_round_sent_before_the_election_never_ends_the_new_tenure(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    """ZooKeeper anchors a grant on an older ping: a round of the previous tenure, sent after
    that ping but before the election, answers "taken" about the previous tenure."""
    assert elector.acquire() is not None
    backend.mode = "block"
    advance_until_renewed(clock, backend, 3.0)  # this round is stuck in the store
    elector.release()
    clock.advance(1.0)
    backend.grant_age = 1.5  # the new grant is proved by a ping sent before the stuck round
    lease = elector.acquire()
    assert lease is not None and lease.token == 2
    backend.after_block, backend.mode = "taken", "ok"
    keep_alives = backend.keep_alives
    backend.unblock.set()  # the old round answers: "not yours"
    advance_until_renewed(clock, backend, 2.0)  # the next round (ok) comes after the old one
    assert wait_for(lambda: backend.keep_alives > keep_alives)
    assert elector.is_leader and elector.lease is lease
    assert recorder.calls == [
        ("elected", 1, None),
        ("lost", 1, LostReason.RELEASED),
        ("elected", 2, None),
    ]


def test_the_machine_ignores_taken_from_a_round_sent_before_it_was_elected() -> None:
    machine = ElectionMachine("job", "me", Timing(ttl=9.0))
    machine.elected(token=1, granted_ttl=9.0, sent=100.0, now=102.0)
    assert machine.taken(sent=101.0, now=102.5) == []
    assert machine.renewed(granted_ttl=9.0, sent=101.0, now=102.5) == []  # sent > anchor: kept
    assert machine.lease is not None and machine.lease.deadline > 101.0 + 7.0
    [lost] = machine.taken(sent=102.0, now=102.6)
    assert isinstance(lost, Lost) and lost.reason is LostReason.TAKEN


# -- acquire() on a started elector keeps it campaigning -----------------------------------------


def test_acquire_on_a_started_elector_keeps_it_campaigning(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    gate = backend.campaign_gate = threading.Event()
    elector.start()
    result: list[Lease | None] = []
    thread = threading.Thread(target=lambda: result.append(elector.acquire()), daemon=True)
    thread.start()
    assert wait_for(lambda: backend.campaigns >= 1)
    gate.set()
    thread.join(SETTLE)
    assert result and result[0] is not None and result[0].token == 1
    backend.mode = "taken"
    advance_until_renewed(clock, backend, 3.0)
    assert recorder.lost.wait(SETTLE)
    backend.mode = "ok"
    clock.advance(1.0)  # the retry pause
    assert wait_for(lambda: elector.is_leader), "stopped campaigning after the acquired tenure"
    assert elector.lease is not None and elector.lease.token == 2


def test_an_acquire_timeout_on_a_started_elector_keeps_it_campaigning(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    holder = Elector(backend, "job", ttl=TTL, clock=clock, release_on_exit=False)
    elector = Elector(backend, "job", ttl=TTL, clock=clock, release_on_exit=False)
    try:
        assert holder.acquire() is not None
        elector.start()
        result: list[Lease | None] = []
        thread = threading.Thread(
            target=lambda: result.append(elector.acquire(timeout=1.0)), daemon=True
        )
        thread.start()
        for _ in range(20):  # until the acquire has waited its second (it may start late)
            clock.advance(0.5)
            if wait_for(lambda: bool(result), settle=0.1):
                break
        assert result == [None]
        holder.release()  # the store wakes the waiting campaign
        assert wait_for(lambda: elector.is_leader), "the timed-out acquire stopped start()"
    finally:
        elector.close()
        holder.close()


# -- a raising callback is logged with its election and name -----------------------------------


def test_a_raising_callback_is_logged_naming_the_election_and_the_callback(
    backend: ScriptedBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    lost = threading.Event()

    def on_lost(lease: Lease, reason: LostReason) -> None:
        lost.set()
        raise ValueError("boom")

    elector = Elector(backend, "jobs", ttl=TTL, clock=clock, on_lost=on_lost, release_on_exit=False)
    with caplog.at_level(logging.ERROR, logger="leaselect"):
        assert elector.acquire() is not None
        elector.release()
        elector.close()
    assert lost.is_set()
    messages = [r.getMessage() for r in caplog.records if r.exc_info]
    assert any("election 'jobs': on_lost raised; ignored" in m for m in messages), messages


# -- a closing backend begins no tenure ----------------------------------------------------------


def test_no_tenure_begins_on_a_backend_while_it_closes(clock: FakeClock) -> None:
    """The leader's resign during ``Backend.close()`` wakes a waiter blocked in acquire(): it
    must get None, never a lease of a tenure that begins on the closing backend."""
    for _ in range(4):  # the tenants are told in an arbitrary order: try several
        _close_while_a_waiter_acquires(clock)


def _close_while_a_waiter_acquires(clock: FakeClock) -> None:
    backend = ScriptedBackend()
    won = threading.Event()
    backend.after_resign = lambda: won.wait(0.3)  # the waiter's campaign gets its chance
    leader = Elector(backend, "job", ttl=TTL, clock=clock, release_on_exit=False)
    calls = Recorder()

    def elected(lease: Lease) -> None:
        calls.elected(lease)
        won.set()

    waiter = Elector(
        backend, "job", ttl=TTL, clock=clock, on_elected=elected, release_on_exit=False
    )
    assert leader.acquire() is not None
    result: list[Lease | None] = []
    thread = threading.Thread(target=lambda: result.append(waiter.acquire()), daemon=True)
    thread.start()
    assert wait_for(lambda: backend.campaigns >= 2)
    backend.close()
    thread.join(SETTLE)
    assert result == [None] and calls.calls == [], (result, calls.calls)
    assert not leader.is_leader and not waiter.is_leader


def test_an_elector_on_a_closed_backend_is_refused(backend: ScriptedBackend) -> None:
    from leaselect.errors import LeaselectError

    backend.close()
    with pytest.raises(LeaselectError, match="backend is closed"):
        Elector(backend, "job", ttl=TTL, release_on_exit=False)
