"""Redis: a release hands the lease to a live waiter, never to a dead or stale registration.

On the real redis-server of ``backends/launch.py``. A waiter that "died" is a candidacy that
registered once and is never refreshed again (no keeper): the state a killed process leaves.
A proxy that forwards requests but drops replies (``Proxy.drop(replies_only=True)``): a
request applied whose answer is lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import leaselect
from leaselect.backend import Grant, Waiting
from leaselect.backends.redis import RedisBackend
from leaselect.clock import SYSTEM_CLOCK
from tests.support.proxy import Proxy


@pytest.fixture
def other(url: str) -> Iterator[RedisBackend]:
    """A second backend, for a waiter that registers and then dies."""
    opened = leaselect.connect(url)
    assert isinstance(opened, RedisBackend)
    yield opened
    opened.close()


def elected_within(elector: leaselect.Elector, seconds: float) -> float | None:
    """Seconds until ``elector`` leads, or None after ``seconds``."""
    start = SYSTEM_CLOCK.now()
    while SYSTEM_CLOCK.now() - start < seconds:
        if elector.is_leader:
            return SYSTEM_CLOCK.now() - start
        time.sleep(0.01)
    return None


def dead_waiter(backend: RedisBackend, name: str, ttl: float) -> None:
    """Register a waiter with ``ttl`` that never refreshes again."""
    waiting = backend.session(ttl).candidacy(name, "dead", "").campaign(SYSTEM_CLOCK.now())
    assert isinstance(waiting, Waiting)


def test_a_release_picks_the_most_recently_refreshed_waiter_whatever_its_ttl(
    url: str, other: RedisBackend, name: str
) -> None:
    """A dead TTL-20 waiter registered before a live TTL-2 waiter's last refresh: the live one
    gets the lease (main: the dead one's later registration *expiry* won; 18 s without leader)."""
    leader = leaselect.Elector(url, name, ttl=2.0)
    live = leaselect.Elector(url, name, ttl=2.0)
    try:
        assert leader.acquire(timeout=5) is not None
        live.start()
        time.sleep(0.2)
        dead_waiter(other, name, 20.0)
        time.sleep(1.0)  # the live waiter refreshes its registration (every 0.67 s)
        leader.release()
        took = elected_within(live, 5.0)
        assert took is not None and took < 0.5, took
    finally:
        live.close()
        leader.close()


def test_a_dead_pick_costs_at_most_the_releasers_ttl(
    url: str, other: RedisBackend, name: str
) -> None:
    """The freshest registration is a dead TTL-20 waiter's: the lease handed to it lasts no
    longer than the releaser's TTL (main: up to 20 s)."""
    leader = leaselect.Elector(url, name, ttl=2.0)
    live = leaselect.Elector(url, name, ttl=2.0)
    try:
        assert leader.acquire(timeout=5) is not None
        live.start()
        time.sleep(0.2)
        dead_waiter(other, name, 20.0)
        leader.release()
        took = elected_within(live, 6.0)
        assert took is not None and took <= 2.0 + 0.3, took
    finally:
        live.close()
        leader.close()


def test_a_registration_whose_reply_was_lost_is_never_handed_the_lease(
    url: str, other: RedisBackend, name: str
) -> None:
    """A waiter's registration is applied but its reply lost; the lease then frees and the
    waiter wins it. Its release must not hand the lease to its own stale registration
    (main: a ghost lease nobody holds, up to the waiter's TTL)."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    proxy = Proxy(("127.0.0.1", port))
    crashed = other.session(1.0).candidacy(name, "crashed", "")
    waiter = leaselect.Elector(f"redis://127.0.0.1:{proxy.port}/0?timeout=0.2", name, ttl=2.0)
    successor = leaselect.Elector(url, name, ttl=2.0)
    try:
        assert isinstance(crashed.campaign(SYSTEM_CLOCK.now()), Grant)  # never renewed
        assert waiter.leader() is not None  # connected: the drop then hits a request
        proxy.drop(replies_only=True)
        waiter.start()  # registers; the reply never arrives
        time.sleep(1.2)  # the crashed holder's key expires
        proxy.heal()
        assert elected_within(waiter, 3.0) is not None
        waiter.release()
        assert successor.acquire(timeout=0.5) is not None, "the release left a ghost lease"
    finally:
        successor.close()
        waiter.close()
        proxy.close()
