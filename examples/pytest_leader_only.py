"""A user's tests of leader-only code with leaselect's pytest fixtures (docs/testing.md).

Run them as your own tests would run: ``pytest examples/pytest_leader_only.py`` (the embedded
store), or against a real store: ``pytest --leaselect-url redis://127.0.0.1:16379/0 ...``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from leaselect import Elector, Lease, LostReason
from leaselect.clock import Clock
from leaselect.pytest_plugin import Cut
from leaselect.testing import FakeClock


class Reports:
    """The leader-only code under test: writes a report only while leading."""

    def __init__(self, url: str, name: str, ttl: float, clock: Clock | None = None) -> None:
        self.written: list[int] = []
        self.lost = threading.Event()
        self.reasons: list[LostReason] = []
        self.elector = Elector(url, name, ttl=ttl, clock=clock, on_lost=self._on_lost)

    def _on_lost(self, lease: Lease, reason: LostReason) -> None:
        self.reasons.append(reason)
        self.lost.set()

    def write_if_leading(self) -> bool:
        lease = self.elector.lease
        if lease is None or not self.elector.is_leader:
            return False
        self.written.append(lease.token)
        return True


def eventually(check: Callable[[], bool], within: float = 10.0) -> bool:
    until = time.monotonic() + within
    while time.monotonic() < until:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_only_the_leader_writes(leaselect_url: str, leaselect_election: str) -> None:
    first = Reports(leaselect_url, leaselect_election, ttl=2)
    second = Reports(leaselect_url, leaselect_election, ttl=2)
    try:
        assert first.elector.acquire(timeout=10) is not None
        second.elector.start()
        assert first.write_if_leading() and not second.write_if_leading()
    finally:
        first.elector.close()
        second.elector.close()


def test_the_lease_ends_at_the_local_deadline_without_sleeping(
    leaselect_election: str, leaselect_clock: FakeClock, leaselect_cut: Cut
) -> None:
    reports = Reports(leaselect_cut.url, leaselect_election, ttl=2, clock=leaselect_clock)
    try:
        assert reports.elector.acquire(timeout=10) is not None
        with leaselect_cut.cut():  # renewals cannot reach the store any more
            leaselect_clock.advance(2.0)  # a whole TTL: past the local deadline
            assert not reports.write_if_leading()
            assert reports.lost.wait(5)
    finally:
        reports.elector.close()


def test_an_expired_lease_stops_the_writes(
    leaselect_url: str, leaselect_election: str, leaselect_expire: Callable[[str], bool]
) -> None:
    reports = Reports(leaselect_url, leaselect_election, ttl=2)
    try:
        assert reports.elector.acquire(timeout=10) is not None
        assert leaselect_expire(leaselect_election)
        assert reports.lost.wait(5)  # at its next renewal
        assert not reports.write_if_leading()
    finally:
        reports.elector.close()


def test_a_taken_lease_goes_to_the_taker_with_a_greater_token(
    leaselect_url: str, leaselect_election: str, leaselect_take: Callable[[str], Elector]
) -> None:
    reports = Reports(leaselect_url, leaselect_election, ttl=2)
    try:
        lease = reports.elector.acquire(timeout=10)
        assert lease is not None
        taker = leaselect_take(leaselect_election)
        assert taker.lease is not None and taker.lease.token > lease.token
        assert reports.lost.wait(5) and not reports.write_if_leading()
        assert reports.reasons[0] in (LostReason.TAKEN, LostReason.EXPIRED)
    finally:
        reports.elector.close()


def test_a_partition_ends_the_tenure_and_the_leader_comes_back(
    leaselect_cut: Cut, leaselect_election: str
) -> None:
    reports = Reports(leaselect_cut.url, leaselect_election, ttl=2)
    try:
        reports.elector.start()
        assert eventually(reports.write_if_leading)
        with leaselect_cut.cut():
            assert reports.lost.wait(5)  # by the local deadline
            assert not reports.write_if_leading()
        assert eventually(reports.write_if_leading, within=15)  # campaigns again once healed
    finally:
        reports.elector.close()
