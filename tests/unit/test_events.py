"""leaselect.events on a fake clock: what a listener receives, and that no listener can break or
slow an elector."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from leaselect import Elector, LostReason, events
from leaselect.testing import FakeClock
from tests.unit.driving import TTL, advance_until_renewed, wait_for
from tests.unit.scripted import ScriptedBackend


class Collected:
    def __init__(self) -> None:
        self.events: list[events.Event] = []

    def __call__(self, event: events.Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


@pytest.fixture
def collected() -> Iterator[Collected]:
    listener = Collected()
    subscription = events.subscribe(listener)
    yield listener
    subscription.close()


def test_a_tenure_is_told_as_elected_renewed_jeopardy_recovered_and_one_lost(
    backend: ScriptedBackend, clock: FakeClock, collected: Collected
) -> None:
    elector = Elector(backend, "job", ttl=TTL, clock=clock, identity="a")
    try:
        lease = elector.acquire(timeout=1)
        assert lease is not None
        advance_until_renewed(clock, backend, elector.timing.renew_every)
        assert wait_for(lambda: "Renewed" in collected.kinds())
        backend.mode = "fail"
        advance_until_renewed(clock, backend, elector.timing.renew_every)
        assert wait_for(lambda: "Jeopardy" in collected.kinds())
        backend.mode = "ok"
        advance_until_renewed(clock, backend, elector.timing.retry_delay())
        assert wait_for(lambda: "Recovered" in collected.kinds())
    finally:
        elector.close()
    assert wait_for(lambda: "Lost" in collected.kinds())
    kinds = collected.kinds()
    assert kinds[0] == "Elected" and kinds.count("Elected") == 1 and kinds.count("Lost") == 1
    assert kinds.index("RenewFailed") < kinds.index("Jeopardy") < kinds.index("Recovered")
    assert kinds[-1] == "Lost"
    elected, lost = collected.events[0], collected.events[-1]
    assert isinstance(elected, events.Elected) and isinstance(lost, events.Lost)
    assert (elected.election, elected.identity, elected.store) == ("job", "a", "scripted")
    assert elected.token == lease.token == lost.token and lost.reason is LostReason.RELEASED
    renewed = next(e for e in collected.events if isinstance(e, events.Renewed))
    assert renewed.round_trip >= 0 and renewed.anchor_age >= elector.timing.renew_every
    assert renewed.deadline > elected.deadline


def test_a_failed_campaign_is_told_without_the_password(
    backend: ScriptedBackend, clock: FakeClock, collected: Collected
) -> None:
    from leaselect import BackendUnavailable
    from leaselect.urls import parse

    url = "redis://u:s3cret@db:6379"
    parse(url)  # as connect() does: the process knows the URL's secret from now on
    backend.session_errors.append(BackendUnavailable(f"{url} refused"))
    elector = Elector(backend, "job", ttl=TTL, clock=clock)
    try:
        elector.start()
        assert wait_for(lambda: "CampaignFailed" in collected.kinds())
    finally:
        elector.close()
    failed = next(e for e in collected.events if isinstance(e, events.CampaignFailed))
    assert "s3cret" not in failed.error and "BackendUnavailable" in failed.error


def test_a_raising_listener_is_reported_once_and_the_elector_goes_on(
    backend: ScriptedBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[events.Event] = []

    def raising(event: events.Event) -> None:
        calls.append(event)
        raise RuntimeError("listener bug")

    subscription = events.subscribe(raising)
    elector = Elector(backend, "job", ttl=TTL, clock=clock)
    try:
        with caplog.at_level(logging.ERROR, logger="leaselect"):
            assert elector.acquire(timeout=1) is not None
            advance_until_renewed(clock, backend, elector.timing.renew_every)
            advance_until_renewed(clock, backend, elector.timing.renew_every)
            assert elector.is_leader
            elector.release()
            assert subscription.flush(timeout=2)
    finally:
        elector.close()
        subscription.close()
    assert len(calls) >= 3  # elected, renewed twice, lost: each delivered despite the raise
    raised = [r for r in caplog.records if "raised" in r.getMessage()]
    assert len(raised) == 1 and raised[0].exc_info is not None


def test_a_blocking_listener_holds_only_its_own_queue(
    backend: ScriptedBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    gate = threading.Event()
    subscription = events.subscribe(lambda event: gate.wait(), limit=2)
    other = Collected()
    other_subscription = events.subscribe(other)
    elector = Elector(backend, "job", ttl=TTL, clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="leaselect"):
            for _ in range(3):  # elected + lost, three times: more than the queue holds
                assert elector.acquire(timeout=1) is not None
                elector.release()
            assert wait_for(lambda: other.kinds().count("Lost") == 3)
        assert subscription.dropped > 0
        assert sum("is behind" in r.getMessage() for r in caplog.records) == 1
    finally:
        gate.set()
        elector.close()
        subscription.close()
        other_subscription.close()
    assert not [t for t in threading.enumerate() if t.name == "leaselect-events"]


def test_no_event_is_built_while_nobody_listens(
    backend: ScriptedBackend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def built(*args: object) -> None:
        raise AssertionError("an event was built with no listener")

    monkeypatch.setattr(events, "publish", built)
    elector = Elector(backend, "job", ttl=TTL, clock=clock)
    try:
        assert elector.acquire(timeout=1) is not None
        advance_until_renewed(clock, backend, elector.timing.renew_every)
        elector.release()
    finally:
        elector.close()


def test_a_listener_must_be_callable() -> None:
    with pytest.raises(TypeError, match="listener must be callable"):
        events.subscribe("not a function")  # type: ignore[arg-type]


def test_a_late_listener_gets_no_lost_without_its_elected(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    elector = Elector(backend, "job", ttl=TTL, clock=clock)
    try:
        assert elector.acquire(timeout=1) is not None  # elected before anyone listens
        late = Collected()
        subscription = events.subscribe(late)
        advance_until_renewed(clock, backend, elector.timing.renew_every)
        elector.release()
        assert elector.acquire(timeout=1) is not None  # a tenure the listener sees begin
        elector.release()
        assert subscription.flush(timeout=2)
        subscription.close()
    finally:
        elector.close()
    assert late.kinds() == ["Elected", "Lost"]


def test_closing_a_subscription_with_a_blocked_listener_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate, entered = threading.Event(), threading.Event()

    def blocked(event: events.Event) -> None:
        entered.set()
        gate.wait()

    subscription = events.subscribe(blocked)
    subscription.put(events.CampaignFailed("job", "me", "scripted", 0.0, "boom"))
    assert entered.wait(2)
    with caplog.at_level(logging.WARNING, logger="leaselect"):
        subscription.close(timeout=0.1)
    assert any("still blocked" in r.getMessage() for r in caplog.records)
    gate.set()
