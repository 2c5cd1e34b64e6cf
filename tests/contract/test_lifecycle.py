"""Lifecycle rules on every store, real servers, real processes: an elector started while its
store is down is elected once the store is back; closing a backend ends its tenures before the
store hands over; a leader process that exits releases its lease (unless it opted out)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

import leaselect
from leaselect.backend import Backend
from leaselect.clock import SYSTEM_CLOCK
from leaselect.elector import MAX_BACKOFF
from tests.support.contenders import read_event, spawn
from tests.support.proxy import Mode, Proxy, first_host, proxied_url
from tests.support.stores import Store

HOLD_LOCK = (
    "import sqlite3, sys, time\n"
    "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "db.execute('BEGIN EXCLUSIVE')\n"
    "print('locked', flush=True)\n"
    "time.sleep(3600)\n"
)
DOWN = 4.0  # seconds the store stays down: longer than the ZooKeeper connect timeout used
SLACK = 2.0  # for a loaded 2-core machine


def wait_until(condition: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``condition`` held, or None after ``timeout``."""
    start = SYSTEM_CLOCK.now()
    while SYSTEM_CLOCK.now() - start < timeout:
        if condition():
            return SYSTEM_CLOCK.now() - start
        time.sleep(0.005)
    return None


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_an_elector_started_while_the_store_is_down_is_elected_once_it_is_back(
    store: Store, store_url: str, election: str, mode: Mode
) -> None:
    ttl = store.fast_ttl
    if store.kind == "sqlite":
        elector = leaselect.Elector(f"{store_url}?busy_timeout=0.2", election, ttl=ttl)
        path = store_url.removeprefix("sqlite://")
        if mode == "refuse":  # another connection holds the file's write lock, then commits
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")  # the store is unusable: every campaign fails
            try:
                elector.start()
                time.sleep(DOWN)
                assert not elector.is_leader
            finally:
                blocker.execute("COMMIT")
                blocker.close()
        else:  # a frozen process holds the lock until it is killed (the kernel drops it)
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLD_LOCK, path], stdout=subprocess.PIPE
            )
            try:
                assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
                holder.send_signal(signal.SIGSTOP)
                elector.start()
                time.sleep(DOWN)
                assert not elector.is_leader
            finally:
                holder.kill()
                holder.wait()
    else:
        proxy = Proxy(first_host(store_url), mode)
        url = proxied_url(store_url, [proxy])
        if store.kind == "zookeeper":  # session() then fails inside the campaign thread
            url += ("&" if "?" in url else "?") + "connect_timeout=1.5"
        elector = leaselect.Elector(url, election, ttl=ttl)
        try:
            elector.start()
            time.sleep(DOWN)
            assert not elector.is_leader
            proxy.mode = "forward"
        except BaseException:
            proxy.close()
            raise
    try:
        took = wait_until(lambda: elector.is_leader, ttl + MAX_BACKOFF + SLACK)
        assert took is not None, "never elected after the store came back"
    finally:
        elector.close()
        if store.kind != "sqlite":
            proxy.close()


def test_closing_a_backend_ends_its_tenures_before_the_store_hands_over(
    store: Store, backends: Callable[[], Backend], election: str
) -> None:
    ttl = store.fast_ttl
    lost: list[tuple[leaselect.LostReason, bool]] = []
    closing = backends()
    leader = leaselect.Elector(
        closing, election, ttl=ttl, on_lost=lambda lease, why: lost.append((why, leader.is_leader))
    )
    waiter = leaselect.Elector(backends(), election, ttl=ttl)
    overlaps = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal overlaps
        while not sampling.is_set():
            overlaps += leader.is_leader and waiter.is_leader
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    try:
        assert leader.acquire(timeout=10) is not None
        waiter.start()
        time.sleep(0.3)
        sampler.start()
        closing.close()
        assert not leader.is_leader
        assert lost == [(leaselect.LostReason.RELEASED, False)]  # returned before close() did
        took = wait_until(lambda: waiter.is_leader, ttl + SLACK)
        assert took is not None and took < 1.5, f"handover after close took {took}"
        time.sleep(0.2)
    finally:
        sampling.set()
        if sampler.is_alive():
            sampler.join()
        waiter.close()
        leader.close()
    assert overlaps == 0, f"{overlaps} samples with two leaders"


@pytest.mark.parametrize("how", ["exit", "sigterm"])
@pytest.mark.parametrize("release", [True, False], ids=["default", "opt-out"])
def test_a_leader_process_that_exits_releases_its_lease(
    store: Store, store_url: str, election: str, how: str, release: bool
) -> None:
    ttl = 10.0  # a successor that had to wait for expiry would wait seconds
    waiter = leaselect.Elector(store_url, election, ttl=ttl)
    holder = spawn(store_url, election, ttl, how, *([] if release else ["keep"]))
    try:
        read_event(holder, "elected")
        if how == "sigterm":
            holder.send_signal(signal.SIGTERM)
        code = holder.wait(15)
        assert code == (-signal.SIGTERM if how == "sigterm" else 0)
        gone = SYSTEM_CLOCK.now()
        lease = waiter.acquire(timeout=3.0)
        if release:
            assert lease is not None, "the exited leader's lease was not released"
            assert SYSTEM_CLOCK.now() - gone < 3.0
        else:
            assert lease is None, "an opted-out leader released at exit"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        waiter.close()
