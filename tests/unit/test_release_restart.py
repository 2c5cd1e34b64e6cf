"""A new tenure begins only after the previous tenure's on_lost returned, also when the
elector is released and started again while on_lost still runs."""

from __future__ import annotations

import threading

import pytest

from leaselect import Elector, Lease, LostReason
from leaselect.testing import FakeClock
from tests.unit.driving import TTL, wait_for
from tests.unit.scripted import ScriptedBackend


@pytest.mark.parametrize("again", ["start", "acquire"])
def test_no_new_tenure_while_the_last_on_lost_runs(
    again: str, backend: ScriptedBackend, clock: FakeClock
) -> None:
    unblock, running = threading.Event(), threading.Event()

    def on_lost(lease: Lease, reason: LostReason) -> None:
        running.set()
        unblock.wait(10)

    elector = Elector(backend, "job", ttl=TTL, clock=clock, on_lost=on_lost)
    try:
        assert elector.acquire(timeout=5) is not None
        elector.release()
        assert running.wait(5)
        result: list[Lease | None] = []
        if again == "start":
            elector.start()
        else:
            threading.Thread(target=lambda: result.append(elector.acquire(timeout=10))).start()
        began = wait_for(lambda: elector.is_leader, settle=0.3)  # threads get time to react
        assert not began, "a new tenure began while on_lost still ran"
        unblock.set()
        assert wait_for(lambda: elector.is_leader)
        if again == "acquire":
            assert wait_for(lambda: bool(result)) and result[0] is not None
    finally:
        unblock.set()
        elector.close()
