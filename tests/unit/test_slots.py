"""One backend runs at most CAMPAIGN_SLOTS campaign attempts at once; an elector released while
it waits for a slot gives up at once."""

from __future__ import annotations

import threading
import time

from leaselect import Elector
from leaselect.slots import CAMPAIGN_SLOTS
from leaselect.testing import FakeClock
from tests.unit.driving import TTL, wait_for
from tests.unit.scripted import ScriptedBackend


def test_campaigns_beyond_the_slots_wait_and_a_released_one_gives_up(
    backend: ScriptedBackend, clock: FakeClock
) -> None:
    gate = backend.campaign_gate = threading.Event()
    electors = [Elector(backend, "job", ttl=TTL, clock=clock) for _ in range(CAMPAIGN_SLOTS + 4)]
    try:
        for elector in electors:
            elector.start()
        assert wait_for(lambda: backend.campaigns == CAMPAIGN_SLOTS)
        # the others wait for a slot: no further campaign while the threads have time to react
        assert not wait_for(lambda: backend.campaigns > CAMPAIGN_SLOTS, settle=0.2)
        waiting = electors[-1]
        thread = waiting._thread
        assert thread is not None
        started = time.monotonic()
        waiting.release()
        assert time.monotonic() - started < 1.0
        assert wait_for(lambda: not thread.is_alive())
        gate.set()
        assert wait_for(lambda: sum(e.is_leader for e in electors) == 1)
        assert not waiting.is_leader
    finally:
        gate.set()
        for elector in electors:
            elector.close()
