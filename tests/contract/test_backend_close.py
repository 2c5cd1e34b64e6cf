"""Closing a backend with many leaders: every tenure ends before any ``on_lost`` is waited for,
and the store no longer names any of them once ``close()`` returns."""

from __future__ import annotations

import threading
import uuid

import leaselect
from leaselect import Lease, LostReason


def test_closing_a_backend_ends_every_tenure_before_waiting_for_any_on_lost(
    store_url: str,
) -> None:
    """Ten leaders whose ``on_lost`` each blocks until all ten run at once: a close that waited
    for one elector's ``on_lost`` before ending the next tenure would break the barrier."""
    everyone_lost = threading.Barrier(10, timeout=5.0)
    broken: list[bool] = []

    def on_lost(lease: Lease, reason: LostReason) -> None:
        try:
            everyone_lost.wait()
        except threading.BrokenBarrierError:
            broken.append(True)

    prefix = f"c-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(10)]
    backend = leaselect.connect(store_url)
    electors = [leaselect.Elector(backend, name, ttl=3.0, on_lost=on_lost) for name in names]
    for elector in electors:
        assert elector.acquire(timeout=10) is not None
    backend.close()
    assert not broken, "close waited for an on_lost before ending every tenure"
    assert not any(elector.is_leader for elector in electors)
    with leaselect.connect(store_url) as observer:
        assert [observer.observe(name) for name in names] == [None] * 10
