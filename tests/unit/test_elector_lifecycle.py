"""The Elector's lifecycle rules on a fake clock: a campaign that never dies, callbacks that
cannot break it, calls from callbacks, use after close, the token backstop, backend close."""

from __future__ import annotations

import logging
import threading

import pytest

from leaselect import BackendUnavailable, ConfigError, Elector, Lease, LeaselectError, LostReason
from leaselect.elector import MAX_BACKOFF
from leaselect.keeper import keeper_for
from leaselect.testing import FakeClock
from tests.unit.driving import SETTLE, TTL, Recorder, advance_until_renewed, wait_for
from tests.unit.scripted import ScriptedBackend

_EARLIER: set[threading.Thread] = set()


@pytest.fixture(autouse=True)
def _earlier_threads() -> None:
    """Threads left by earlier tests (other modules of the same run) are not this test's."""
    _EARLIER.clear()
    _EARLIER.update(threading.enumerate())


def leaselect_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix) and t not in _EARLIER]


def campaign_threads() -> list[threading.Thread]:
    return leaselect_threads("leaselect-campaign")


def advance_until(clock: FakeClock, condition: object, step: float, limit: float) -> bool:
    """Advance the fake clock ``step`` at a time (letting threads react) until ``condition``."""
    spent = 0.0
    while spent <= limit:
        if wait_for(lambda: condition(), settle=0.05):  # type: ignore[operator]
            return True
        clock.advance(step)
        spent += step
    return bool(condition())  # type: ignore[operator]


@pytest.mark.parametrize(
    "error", [BackendUnavailable("zk: connect timed out"), OverflowError("timeout too large")]
)
@pytest.mark.parametrize("where", ["session", "campaign"])
def test_the_campaign_thread_survives_any_exception_and_is_elected_once_the_store_answers(
    backend: ScriptedBackend, clock: FakeClock, recorder: Recorder, error: Exception, where: str
) -> None:
    errors = backend.session_errors if where == "session" else backend.campaign_errors
    errors.extend([error] * 6)  # backoff 0.1, 0.2, 0.4, 0.8, 1.6, 3.2: the store is down ~6 s
    elector = Elector(backend, "job", ttl=TTL, clock=clock, on_elected=recorder.elected)
    try:
        elector.start()
        assert advance_until(clock, lambda: not errors, step=0.1, limit=10.0)
        assert advance_until(clock, lambda: elector.is_leader, step=0.1, limit=MAX_BACKOFF)
    finally:
        elector.close()


def test_a_config_error_from_the_adapter_reaches_acquire_and_is_retried_under_start(
    backend: ScriptedBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    refused = ConfigError("ttl 9s is above the servers' maxSessionTimeout")
    backend.session_errors.append(refused)
    elector = Elector(backend, "job", ttl=TTL, clock=clock)
    try:
        with pytest.raises(ConfigError) as raised:
            elector.acquire(timeout=1.0)
        assert raised.value is refused and not campaign_threads()
        backend.campaign_errors.append(refused)
        with caplog.at_level(logging.ERROR, logger="leaselect"):
            elector.start()
            assert advance_until(clock, lambda: elector.is_leader, step=0.1, limit=MAX_BACKOFF)
        assert any(
            r.levelno == logging.ERROR and "maxSessionTimeout" in r.getMessage()
            for r in caplog.records
        )
    finally:
        elector.close()


def test_the_backoff_pause_ends_when_the_candidacy_is_interrupted(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    backend.campaign_errors.extend([BackendUnavailable("down")] * 5)
    elector = Elector(backend, "job", ttl=TTL, clock=clock)
    try:
        elector.start()
        assert advance_until(clock, lambda: backend.campaigns >= 5, step=0.1, limit=5.0)
        assert wait_for(lambda: clock.waiters > 0)  # in the 1.6 s pause after the 5th failure
        before = backend.campaigns
        assert elector._candidacy is not None
        elector._candidacy.interrupt()  # what ZooKeeper does on reconnect
        assert wait_for(lambda: backend.campaigns > before) and wait_for(lambda: elector.is_leader)
    finally:
        elector.close()


def test_start_after_a_release_whose_join_timed_out_keeps_the_lease_renewed(
    backend: ScriptedBackend, clock: FakeClock, recorder: Recorder
) -> None:
    ttl = 1.0  # release() joins the campaign thread for ttl real seconds
    gate = backend.campaign_gate = threading.Event()
    elector = Elector(backend, "job", ttl=ttl, clock=clock, on_lost=recorder.on_lost)
    try:
        elector.start()
        assert wait_for(lambda: backend.campaigns == 1)  # blocked inside campaign()
        elector.release()  # the join times out: the thread is still inside campaign()
        elector.start()
        gate.set()
        assert wait_for(lambda: elector.is_leader)
        for _ in range(12):  # four TTLs of renewals
            advance_until_renewed(clock, backend, ttl / 3)
            assert wait_for(lambda: elector.is_leader)
        assert recorder.calls == []
    finally:
        gate.set()
        elector.close()


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), ValueError("bug")])
def test_a_callback_raising_anything_leaves_the_callbacks_and_campaign_working(
    backend: ScriptedBackend, clock: FakeClock, recorder: Recorder, exc: BaseException
) -> None:
    def elected(lease: Lease) -> None:
        recorder.elected(lease)
        raise exc

    def lost(lease: Lease, reason: LostReason) -> None:
        recorder.on_lost(lease, reason)
        raise exc

    elector = Elector(backend, "job", ttl=TTL, clock=clock, on_elected=elected, on_lost=lost)
    try:
        elector.start()
        for token in (1, 2):
            assert wait_for(lambda t=token: elector.lease is not None and elector.lease.token == t)
            backend.mode = "taken"
            advance_until_renewed(clock, backend, 3.0)
            assert wait_for(lambda t=token: ("lost", t, LostReason.TAKEN) in recorder.calls)
            backend.mode = "ok"  # the candidate still holds the store's lease: elected again
        assert wait_for(lambda: len(recorder.calls) == 5)
        assert [c[:2] for c in recorder.calls] == [
            ("elected", 1),
            ("lost", 1),
            ("elected", 2),
            ("lost", 2),
            ("elected", 3),
        ]
    finally:
        elector.close()


def test_acquire_inside_a_callback_raises_at_once_and_start_close_work(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    outcome: list[object] = []

    def on_lost(lease: Lease, reason: LostReason) -> None:
        try:
            elector.acquire(timeout=None)
            outcome.append("returned")
        except LeaselectError as exc:
            outcome.append(exc)
        elector.start()  # works: the campaign runs once this callback returns

    elector = Elector(
        backend,
        "job",
        ttl=TTL,
        clock=clock,
        on_lost=on_lost,
        on_elected=lambda lease: outcome.append(lease.token),
    )
    try:
        assert elector.acquire(timeout=1.0) is not None
        backend.mode = "taken"
        advance_until_renewed(clock, backend, 3.0)
        assert wait_for(lambda: len(outcome) >= 2)
        assert isinstance(outcome[1], LeaselectError) and "callback" in str(outcome[1])
        backend.mode, backend.holder = "ok", None
        assert wait_for(lambda: elector.is_leader) and wait_for(lambda: outcome[-1] == 2)
    finally:
        elector.close()


def test_close_inside_on_elected_closes_everything(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    closed = threading.Event()

    def on_elected(lease: Lease) -> None:
        elector.close()
        closed.set()

    elector = Elector(backend, "job", ttl=TTL, clock=clock, on_elected=on_elected)
    elector.start()
    assert closed.wait(SETTLE) and not elector.is_leader
    assert wait_for(lambda: not campaign_threads())
    assert wait_for(lambda: not leaselect_threads("leaselect-callbacks"))


def test_use_after_close_raises_and_leaves_no_thread(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    elector = Elector(backend, "job", ttl=TTL, clock=clock)
    assert elector.acquire(timeout=1.0) is not None
    elector.close()
    for call in (lambda: elector.acquire(1.0), elector.start, elector.leader):
        with pytest.raises(LeaselectError, match="elector is closed"):
            call()
    with pytest.raises(LeaselectError, match="elector is closed"), elector:
        pass
    elector.release()
    elector.close()
    assert wait_for(lambda: not campaign_threads()) and not elector.is_leader


def test_a_tenure_after_a_loss_never_reuses_a_token_the_adapter_hands_out_again(
    backend: ScriptedBackend,
    clock: FakeClock,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    elector = Elector(
        backend, "job", ttl=TTL, clock=clock, on_elected=recorder.elected, on_lost=recorder.on_lost
    )
    try:
        elector.start()
        assert wait_for(lambda: elector.is_leader)
        backend.mode, backend.repeat_token = "taken", True  # the adapter re-adopts token 1
        with caplog.at_level(logging.ERROR, logger="leaselect"):
            advance_until_renewed(clock, backend, 3.0)
            assert wait_for(lambda: len(recorder.calls) == 2)
            backend.mode = "ok"
            assert advance_until(clock, lambda: backend.campaigns >= 4, step=0.1, limit=2.0)
            assert not elector.is_leader and backend.holder is None  # refused and resigned
            backend.repeat_token = False
            assert advance_until(clock, lambda: elector.is_leader, step=0.1, limit=MAX_BACKOFF)
        assert wait_for(lambda: len(recorder.calls) == 3)
        assert [c[:2] for c in recorder.calls] == [("elected", 1), ("lost", 1), ("elected", 2)]
        assert any("not above token 1" in r.getMessage() for r in caplog.records)
    finally:
        elector.close()


def test_closing_the_backend_ends_the_tenure_before_the_session_closes(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    def on_lost(lease: Lease, reason: LostReason) -> None:
        backend.events.append(f"lost {reason.value} leading={elector.is_leader}")

    elector = Elector(backend, "job", ttl=TTL, clock=clock, on_lost=on_lost)
    waiter = Elector(backend, "job", ttl=TTL, clock=clock)
    assert elector.acquire(timeout=1.0) is not None
    waiter.start()
    assert wait_for(lambda: backend.campaigns >= 2)
    backend.close()
    assert not elector.is_leader and backend.holder is None
    assert backend.events == ["lost released leading=False", "session closed"]
    assert wait_for(lambda: not campaign_threads())
    for closed in (elector, waiter):
        with pytest.raises(LeaselectError, match="elector is closed"):
            closed.start()


def test_a_renew_by_that_lands_during_a_round_is_not_lost_when_the_round_ends(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock
) -> None:
    """A lease granted while a round is in flight (that round did not cover it) asks for an
    early renewal; the round's end must not push the next round a full interval away."""
    assert elector.acquire() is not None
    keeper = keeper_for(backend.session(TTL), clock)
    backend.mode = "block"
    clock.advance(elector.timing.renew_every)  # a round starts and blocks in the store
    assert wait_for(lambda: backend.keep_alives == 1)
    keeper.renew_by(clock.now() + 0.5)  # asked during the round
    backend.mode, backend.after_block = "ok", "ok"
    backend.unblock.set()
    assert not wait_for(lambda: backend.keep_alives > 1, settle=0.2)  # the round ended
    clock.advance(0.5)
    assert wait_for(lambda: backend.keep_alives == 2), "the early renewal was dropped"


def test_the_keeper_never_misses_a_renew_by_that_lands_while_it_reads_its_due_time(
    elector: Elector, backend: ScriptedBackend, clock: FakeClock
) -> None:
    """renew_by() between the keeper reading its due time and clearing its wake event."""
    assert elector.acquire() is not None
    keeper = keeper_for(backend.session(TTL), clock)

    class Racing(threading.Event):
        armed = True

        def clear(self) -> None:
            if self.armed:
                self.armed = False
                keeper.renew_by(clock.now() + 0.5)  # lands between the read and the clear
            super().clear()

    old, keeper._wake = keeper._wake, Racing()
    before = backend.keep_alives
    old.set()  # the keeper loops once more, through the racing event
    assert wait_for(lambda: not keeper._wake.armed)
    clock.advance(0.5)
    assert wait_for(lambda: backend.keep_alives > before), "the early renewal was missed"


@pytest.mark.parametrize("second", ["elector", "backend"])
def test_a_close_beside_another_returns_once_the_close_is_done(
    backend: ScriptedBackend, clock: FakeClock, second: str
) -> None:
    """Two threads close one leading elector whose on_lost takes a while: the second close
    returned at once, with on_lost still running and leaselect's threads alive (an outside
    review); it returns once the first has finished. The same for a ``Backend.close()`` beside
    the elector's close: it returned at once and closed its sessions under that close (on
    Redis the elector's release then failed and the next leader waited for the key to expire);
    like for any tenure on it, the backend now waits for that elector's on_lost and close."""
    lost_running, lost_done = threading.Event(), threading.Event()

    def on_lost(lease: Lease, reason: LostReason) -> None:
        lost_running.set()
        threading.Event().wait(0.3)  # real time: the on_lost of a user's cleanup
        lost_done.set()

    elector = Elector(backend, "job", ttl=TTL, clock=clock, on_lost=on_lost)
    assert elector.acquire(timeout=1.0) is not None
    first = threading.Thread(target=elector.close)
    first.start()
    assert lost_running.wait(SETTLE)
    (elector.close if second == "elector" else backend.close)()
    assert lost_done.is_set(), "the second close returned before the first finished"
    first.join(SETTLE)
    if second == "backend":
        assert backend.events == ["session closed"] and backend.holder is None


def test_a_close_beside_one_called_from_on_lost_waits_for_that_callback(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    """The first close ran inside the elector's own on_lost (it cannot wait for itself): a
    second close from another thread returned at once while that callback still ran (an
    outside review); it returns once the callback has returned."""
    in_callback, may_return, returned = threading.Event(), threading.Event(), threading.Event()

    def on_lost(lease: Lease, reason: LostReason) -> None:
        elector.close()  # the first close, from the elector's own callback
        in_callback.set()
        may_return.wait(SETTLE)
        returned.set()

    elector = Elector(backend, "job", ttl=TTL, clock=clock, on_lost=on_lost)
    assert elector.acquire(timeout=1.0) is not None
    elector.release()
    assert in_callback.wait(SETTLE)
    threading.Timer(0.3, may_return.set).start()
    elector.close()
    assert returned.is_set(), "the second close returned while on_lost still ran"
