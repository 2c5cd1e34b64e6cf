"""Leading elections cost no thread each: one backend's leaders share the keeper and the
watchdog, whatever their number, and callbacks run on a pool that keeps few idle threads."""

from __future__ import annotations

import threading
import time
import uuid

import leaselect
from leaselect import pool
from tests.support.stores import Store


def leaselect_threads(before: set[threading.Thread]) -> list[str]:
    return sorted(
        t.name for t in threading.enumerate() if t.name.startswith("leaselect-") and t not in before
    )


def settled_threads(before: set[threading.Thread], limit: float = 10.0) -> list[str]:
    """leaselect's threads once no campaign or callback thread is left (they end on their own
    once every election leads and every ``on_elected`` returned)."""
    end = time.monotonic() + limit
    while True:
        names = leaselect_threads(before)
        busy = [n for n in names if n.startswith("leaselect-campaign") or n == pool.NAME]
        if not busy or time.monotonic() > end:
            return names
        time.sleep(0.05)


def assert_no_threads_left(before: set[threading.Thread], limit: float = 10.0) -> None:
    """Every leaselect thread started since ``before`` ends within ``limit`` seconds."""
    end = time.monotonic() + limit
    while leaselect_threads(before) and time.monotonic() < end:
        time.sleep(0.05)
    assert not leaselect_threads(before), "threads left after close"


def threads_while_leading(store_url: str, count: int) -> list[str]:
    before = set(threading.enumerate())
    elected = threading.Semaphore(0)
    backend = leaselect.connect(store_url)
    electors: list[leaselect.Elector] = []
    try:
        prefix = f"n-{uuid.uuid4().hex[:8]}"
        for i in range(count):
            elector = leaselect.Elector(
                backend, f"{prefix}-{i}", ttl=3.0, on_elected=lambda lease: elected.release()
            )
            electors.append(elector)
            elector.start()
        for _ in range(count):
            assert elected.acquire(timeout=30), "not every election led"
        assert all(elector.is_leader for elector in electors)
        return settled_threads(before)
    finally:
        for each in electors:
            each.close()
        backend.close()
        assert_no_threads_left(before)


def test_the_thread_count_of_leaders_does_not_grow_with_their_number(store_url: str) -> None:
    few = threads_while_leading(store_url, 10)
    many = threads_while_leading(store_url, 200)
    # idle callback threads linger while electors are open; a burst may leave one more
    assert [n for n in few if n != pool.IDLE_NAME] == [n for n in many if n != pool.IDLE_NAME]
    assert many.count(pool.IDLE_NAME) <= pool.KEEP_IDLE, many
    assert len(many) <= 3 + pool.KEEP_IDLE, many


# adapters whose waits hold no thread (Candidacy.park)
PARKING_STORES = ("zookeeper", "redis", "sqlite", "etcd")


def test_waiters_hold_no_thread_where_the_store_parks_their_waits(
    store: Store, store_url: str
) -> None:
    """30 waiters behind one leader, on one backend: on a store whose adapter parks waits the
    waiters add no thread (each held a campaign thread before); elsewhere one thread each."""
    before = set(threading.enumerate())
    backend = leaselect.connect(store_url)
    name = f"w-{uuid.uuid4().hex[:8]}"
    leader = leaselect.Elector(backend, name, ttl=3.0, identity="leader")
    waiters = [leaselect.Elector(backend, name, ttl=3.0, identity=f"w{i}") for i in range(30)]
    try:
        assert leader.acquire(timeout=10) is not None
        for waiter in waiters:
            waiter.start()
        time.sleep(1.0)  # every waiter has campaigned once and waits
        names = settled_threads(before, limit=2.0)
        campaigning = [n for n in names if n.startswith("leaselect-campaign")]
        if store.kind in PARKING_STORES:
            assert campaigning == [], names
            assert len(names) <= 4 + pool.KEEP_IDLE, names  # keeper, watchdog, wake-ups
        else:
            assert len(campaigning) == len(waiters), names
        leader.release()  # the next waiter leads: a parked wait resumes into a campaign
        deadline = time.monotonic() + 10
        while not any(w.is_leader for w in waiters) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sum(w.is_leader for w in waiters) == 1
    finally:
        for elector in [leader, *waiters]:
            elector.close()
        backend.close()
        assert_no_threads_left(before)
