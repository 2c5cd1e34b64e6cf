"""The contract every backend passes, against a real store, across real processes."""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from collections.abc import Callable

import pytest

import leaselect
from leaselect.backend import Backend
from leaselect.clock import SYSTEM_CLOCK
from tests.support.contenders import read_event, spawn
from tests.support.stores import Store


def test_mutual_exclusion_between_processes(store: Store, store_url: str, election: str) -> None:
    workers = [spawn(store_url, election, store.fast_ttl, "rounds", "0.05", "4") for _ in range(3)]
    events = []
    for proc in workers:
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, out
        events += [json.loads(line) for line in out.splitlines()]
    tenures = sorted(
        (
            e["t"],
            next(r["t"] for r in events if r["event"] == "releasing" and r["token"] == e["token"]),
            e["token"],
        )
        for e in events
        if e["event"] == "elected"
    )
    assert len(tenures) == 12
    for (_, end, token), (start, _, next_token) in itertools.pairwise(tenures):
        assert start >= end, (
            f"tenures overlap: token {token} ended at {end}, {next_token} began {start}"
        )
        assert next_token > token


def test_tokens_strictly_increase_across_tenures_and_connections(
    store: Store, backends: Callable[[], Backend], election: str
) -> None:
    tokens = []
    for _ in range(3):
        backend = backends()
        for _ in range(2):
            elector = leaselect.Elector(backend, election, ttl=store.fast_ttl)
            lease = elector.acquire(timeout=10)
            assert lease is not None
            tokens.append(lease.token)
            elector.close()
    assert tokens == sorted(set(tokens)), tokens


def test_renewal_keeps_the_lease(
    store: Store, backends: Callable[[], Backend], election: str
) -> None:
    ttl = store.fast_ttl
    leader = leaselect.Elector(backends(), election, ttl=ttl)
    rival = leaselect.Elector(backends(), election, ttl=ttl)
    lease = leader.acquire(timeout=10)
    assert lease is not None
    assert rival.acquire(timeout=3 * ttl) is None
    assert leader.is_leader and leader.lease is lease
    assert lease.deadline > SYSTEM_CLOCK.now()
    assert not leader.lost.is_set()
    leader.close()
    rival.close()


def test_a_leader_and_its_waiting_rival_stay_healthy(
    store: Store, backends: Callable[[], Backend], election: str
) -> None:
    """No false alarm: the keeper's rounds count as hearing from the store for a parked waiter
    too, and a leader renews on schedule."""
    ttl = store.fast_ttl
    leader = leaselect.Elector(backends(), election, ttl=ttl)
    rival = leaselect.Elector(backends(), election, ttl=ttl)
    try:
        assert leader.acquire(timeout=10) is not None
        rival.start()
        unhealthy = []
        until = time.monotonic() + 3 * ttl
        while time.monotonic() < until:
            for elector in (leader, rival):
                health = elector.health()
                if not health.healthy:
                    unhealthy.append(health)
            time.sleep(0.02)
        assert not unhealthy, unhealthy[:3]
        assert leader.health().leading and rival.health().campaigning
    finally:
        leader.close()
        rival.close()


def test_expiry_after_the_leader_is_killed(
    store: Store, store_url: str, election: str, backends: Callable[[], Backend]
) -> None:
    ttl = store.fast_ttl
    holder = spawn(store_url, election, ttl, "hold")
    first = read_event(holder, "elected")
    rival = leaselect.Elector(backends(), election, ttl=ttl)
    assert rival.acquire(timeout=0.2) is None
    holder.send_signal(signal.SIGKILL)
    killed = SYSTEM_CLOCK.now()
    holder.wait()
    lease = rival.acquire(timeout=ttl + 3)
    assert lease is not None, "no failover after the leader was killed"
    failover = SYSTEM_CLOCK.now() - killed
    assert failover <= ttl + 1.5, f"failover took {failover:.3f}s with ttl {ttl}"
    assert lease.token > first["token"]
    rival.close()


def test_release_wakes_the_next_candidate(backends: Callable[[], Backend], election: str) -> None:
    ttl = 10.0  # a waiter that only woke at expiry would take seconds, not milliseconds
    leader = leaselect.Elector(backends(), election, ttl=ttl)
    assert leader.acquire(timeout=10) is not None
    result: list[leaselect.Lease | None] = []
    waiter = leaselect.Elector(backends(), election, ttl=ttl)
    thread = threading.Thread(target=lambda: result.append(waiter.acquire(timeout=20)))
    thread.start()
    time.sleep(0.5)  # let the waiter register and block
    released = SYSTEM_CLOCK.now()
    leader.release()
    thread.join(20)
    handover = SYSTEM_CLOCK.now() - released
    assert result and result[0] is not None
    assert handover < 1.0, f"handover took {handover:.3f}s"
    waiter.close()
    leader.close()


def test_leader_is_observable(store: Store, backends: Callable[[], Backend], election: str) -> None:
    observer = backends()
    assert observer.observe(election) is None
    elector = leaselect.Elector(
        backends(), election, ttl=store.fast_ttl, identity="node-a", metadata="http://10.0.0.1:8080"
    )
    lease = elector.acquire(timeout=10)
    assert lease is not None
    seen = elector.leader()
    assert seen is not None
    assert (seen.identity, seen.token, seen.metadata) == (
        "node-a",
        lease.token,
        "http://10.0.0.1:8080",
    )
    assert seen.expires_in is None or 0 < seen.expires_in <= store.fast_ttl + 0.5
    assert observer.observe(election) == seen or observer.observe(election) is not None
    elector.release()
    assert observer.observe(election) is None
    elector.close()


def test_callbacks_come_in_order_exactly_once(
    store: Store, backends: Callable[[], Backend], election: str
) -> None:
    calls: list[tuple[str, int]] = []
    done = threading.Event()

    def lost(lease: leaselect.Lease, reason: leaselect.LostReason) -> None:
        calls.append((reason.value, lease.token))
        done.set()

    elector = leaselect.Elector(
        backends(),
        election,
        ttl=store.fast_ttl,
        on_elected=lambda lease: calls.append(("elected", lease.token)),
        on_lost=lost,
    )
    lease = elector.acquire(timeout=10)
    assert lease is not None
    elector.release()
    elector.release()
    assert done.wait(5)
    elector.close()
    assert calls == [("elected", lease.token), ("released", lease.token)]
    assert elector.lost.is_set() and not elector.is_leader


@pytest.mark.parametrize("bad", ["a/b", "..", ".", "", "x" * 129, "a b", "{slot}", "../etc"])
def test_bad_names_are_rejected(backends: Callable[[], Backend], bad: str) -> None:
    with pytest.raises(leaselect.ConfigError, match="election name"):
        leaselect.Elector(backends(), bad)


def test_unreachable_store_is_reported(store: Store) -> None:
    started = time.monotonic()
    with pytest.raises(leaselect.BackendUnavailable):
        backend = leaselect.connect(store.unreachable)
        try:
            backend.observe("x")
        finally:
            backend.close()
    assert time.monotonic() - started < 15
