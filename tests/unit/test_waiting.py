"""A waiter campaigns again when the store tells it something, not on a timer."""

from __future__ import annotations

from leaselect import Elector
from leaselect.testing import FakeClock
from tests.unit.driving import TTL, advance_until_renewed, wait_for
from tests.unit.scripted import ScriptedBackend


def test_a_waiter_told_nothing_does_not_campaign_again_for_many_ttls(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    backend.clock = clock
    leader = Elector(backend, "job", ttl=TTL, clock=clock, identity="leader")
    waiter = Elector(backend, "job", ttl=TTL, clock=clock, identity="waiter")
    try:
        assert leader.acquire(timeout=1.0) is not None
        waiter.start()
        assert wait_for(lambda: backend.campaigns == 2)
        for _ in range(15):  # 5 TTLs of renewals by the leader
            advance_until_renewed(clock, backend, TTL / 3)
        assert leader.is_leader
        assert backend.campaigns == 2, f"{backend.campaigns - 2} campaigns with nothing changed"
        leader.release()  # the store tells the waiter: it campaigns at once
        assert wait_for(lambda: waiter.is_leader)
    finally:
        waiter.close()
        leader.close()
