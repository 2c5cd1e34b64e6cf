"""The threaded Elector on a fake clock: time only moves when the test says so."""

from __future__ import annotations

import threading

from leaselect import Elector, Lease
from leaselect.backend import Candidacy
from leaselect.lease import LostReason
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


def test_is_leader_turns_false_at_the_deadline_while_the_renewal_is_stuck(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    lease = elector.acquire()
    assert lease is not None and elector.is_leader
    backend.mode = "block"
    advance_until_renewed(clock, backend, 3.0)  # the keeper is now stuck inside keep_alive
    clock.advance(DEADLINE_AFTER - 3.0 - 0.001)
    assert elector.is_leader
    clock.advance(0.002)
    assert not elector.is_leader and elector.lease is None
    assert recorder.lost.wait(SETTLE) and elector.lost.is_set()
    assert recorder.calls == [("elected", 1, None), ("lost", 1, LostReason.UNREACHABLE)]


def test_successful_renewals_keep_leading_past_many_ttls(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock
) -> None:
    lease = elector.acquire()
    assert lease is not None
    for _ in range(10):
        advance_until_renewed(clock, backend, 3.0)
        assert wait_for(lambda: lease.deadline >= clock.now() + DEADLINE_AFTER - 0.01)
    assert elector.is_leader and elector.lease is lease


def test_a_renewal_proved_by_an_older_round_trip_is_anchored_and_rescheduled_there(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock
) -> None:
    """ZooKeeper renews from kazoo's last ping: the deadline counts from that ping's send, and
    the next keep-alive is due a renew interval after it, not after the keep-alive."""
    lease = elector.acquire()
    assert lease is not None
    backend.evidence_age = 1.0
    advance_until_renewed(clock, backend, 3.0)
    proved = clock.now() - 1.0
    assert wait_for(lambda: abs(lease.deadline - (proved + DEADLINE_AFTER)) < 1e-9)
    advance_until_renewed(clock, backend, 2.0)  # due at proved + 3 s
    assert elector.is_leader


def test_failing_renewals_are_jeopardy_then_unreachable(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    elector.acquire()
    backend.mode = "fail"
    advance_until_renewed(clock, backend, 3.0)
    assert wait_for(lambda: elector.in_jeopardy)
    clock.advance(DEADLINE_AFTER)
    assert recorder.lost.wait(SETTLE)
    assert recorder.calls[-1] == ("lost", 1, LostReason.UNREACHABLE)


def test_a_lease_taken_by_another_holder_is_lost_at_once(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    elector.acquire()
    backend.mode = "taken"
    advance_until_renewed(clock, backend, 3.0)
    assert recorder.lost.wait(SETTLE) and not elector.is_leader
    assert recorder.calls[-1] == ("lost", 1, LostReason.TAKEN)


def test_an_acquire_right_after_a_loss_campaigns_even_if_the_old_tenure_ends_later(
    backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    """``with elector:`` in a loop: on_lost returned and acquire() was called before the campaign
    thread finished the lost tenure; that must not cancel the new campaign (it hung for good)."""
    requested = threading.Event()

    class LateElector(Elector):
        def _begin(self, repeat: bool) -> bool:
            started = super()._begin(repeat)
            requested.set()
            return started

        def _after_tenure(self, candidacy: Candidacy) -> None:
            requested.wait(SETTLE)  # the re-acquire comes first
            super()._after_tenure(candidacy)

    elector = LateElector(backend, "job", ttl=TTL, clock=clock, on_lost=recorder.on_lost)
    try:
        assert elector.acquire() is not None
        requested.clear()
        backend.mode = "taken"
        advance_until_renewed(clock, backend, 3.0)
        assert recorder.lost.wait(SETTLE)
        backend.mode, backend.holder = "ok", None
        again: list[Lease | None] = []
        thread = threading.Thread(target=lambda: again.append(elector.acquire()))
        thread.start()
        thread.join(SETTLE)
        assert again and again[0] is not None and again[0].token == 2
    finally:
        requested.set()
        elector.close()


def test_acquire_times_out_on_the_elector_clock(
    backend: ScriptedBackend, clock: FakeClock, elector: Elector
) -> None:
    assert elector.acquire() is not None
    rival = Elector(backend, "job", ttl=TTL, clock=clock)
    result: list[Lease | None] = []
    baseline = clock.waiters
    thread = threading.Thread(target=lambda: result.append(rival.acquire(timeout=5.0)))
    thread.start()
    assert wait_for(lambda: clock.waiters > baseline)
    clock.advance(5.0)
    thread.join(SETTLE)
    assert result == [None]
    rival.close()


def test_release_fires_lost_once_and_lets_the_next_candidate_win(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    elector.acquire()
    elector.release()
    elector.release()
    assert recorder.lost.wait(SETTLE)
    rival = Elector(backend, "job", ttl=TTL, clock=clock)
    lease = rival.acquire(timeout=1.0)
    assert lease is not None and lease.token == 2
    rival.close()
    assert recorder.calls == [("elected", 1, None), ("lost", 1, LostReason.RELEASED)]


def test_background_mode_campaigns_again_after_a_loss(
    backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    elector = Elector(
        backend, "job", ttl=TTL, clock=clock, on_elected=recorder.elected, on_lost=recorder.on_lost
    )
    elector.start()
    assert wait_for(lambda: elector.is_leader)
    backend.mode = "taken"
    advance_until_renewed(clock, backend, 3.0)
    backend.mode = "ok"
    backend.holder = None
    assert wait_for(lambda: [c[0] for c in recorder.calls] == ["elected", "lost", "elected"])
    elector.close()


def test_no_new_campaign_until_the_last_on_lost_returned(
    backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    stopping = threading.Event()

    def slow_on_lost(lease: Lease, reason: LostReason) -> None:
        recorder.on_lost(lease, reason)
        stopping.wait(SETTLE)  # leader-only work still winding down

    elector = Elector(
        backend, "job", ttl=TTL, clock=clock, on_elected=recorder.elected, on_lost=slow_on_lost
    )
    elector.start()
    assert wait_for(lambda: elector.is_leader)
    backend.mode = "taken"
    advance_until_renewed(clock, backend, 3.0)
    backend.mode, backend.holder = "ok", None
    assert recorder.lost.wait(SETTLE)
    campaigns = backend.campaigns
    threading.Event().wait(0.2)
    assert backend.campaigns == campaigns and not elector.is_leader
    stopping.set()
    assert wait_for(lambda: [c[0] for c in recorder.calls] == ["elected", "lost", "elected"])
    elector.close()


def test_release_inside_a_blocking_on_lost_does_not_deadlock(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    def on_lost(lease: Lease, reason: LostReason) -> None:
        releasing.release()

    releasing = Elector(backend, "job", ttl=TTL, clock=clock, on_lost=on_lost)
    releasing.start()
    assert wait_for(lambda: releasing.is_leader)
    backend.mode = "taken"
    advance_until_renewed(clock, backend, 3.0)
    assert wait_for(lambda: releasing._thread is None)
    releasing.close()


def test_callbacks_never_run_on_the_renewal_thread(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    threads: list[str] = []
    elector = Elector(
        backend,
        "job",
        ttl=TTL,
        clock=clock,
        on_elected=lambda lease: threads.append(threading.current_thread().name),
    )
    elector.acquire()
    assert wait_for(lambda: bool(threads))
    assert threads[0].startswith("leaselect-callbacks")
    elector.close()


def test_release_from_another_thread_ends_a_blocked_acquire(
    backend: ScriptedBackend, clock: FakeClock, elector: Elector
) -> None:
    assert elector.acquire() is not None
    rival = Elector(backend, "job", ttl=TTL, clock=clock)
    result: list[Lease | None] = []
    thread = threading.Thread(target=lambda: result.append(rival.acquire()))
    thread.start()
    assert wait_for(lambda: rival._thread is not None)
    rival.release()
    thread.join(SETTLE)
    assert result == [None]
    rival.close()


def test_start_right_after_release_still_campaigns(
    backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    elector = Elector(backend, "job", ttl=TTL, clock=clock, on_elected=recorder.elected)
    for _ in range(20):
        elector.start()
        releaser = threading.Thread(target=elector.release)
        releaser.start()
        releaser.join(SETTLE)
        elector.start()
        assert wait_for(lambda: elector.is_leader)
    elector.close()
