"""ZooKeeper: the candidacy next in line leads without a round trip of its own. Its session's
keeper proves a touch every renew interval (docs/zookeeper.md, "next in line"), so when the
leader's node goes the grant anchors at that touch instead of proving one then."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import leaselect
from leaselect import Lease
from leaselect.backends.zookeeper.anchor import gap
from leaselect.backends.zookeeper.proof import SLACK
from leaselect.backends.zookeeper.session import ZooKeeperSession
from leaselect.clock import SYSTEM_CLOCK
from tests.support.zookeeper import submitted_requests, zk

TTL = 3.0


def test_the_next_in_line_proves_nothing_when_the_leader_releases(url: str) -> None:
    leading, waiting = zk(url), zk(url)
    name = f"n-{uuid.uuid4().hex[:8]}"
    elected = threading.Event()
    leader = leaselect.Elector(leading, name, ttl=TTL)
    waiter = leaselect.Elector(waiting, name, ttl=TTL, on_elected=lambda lease: elected.set())
    proofs: list[str] = []
    try:
        assert leader.acquire(timeout=10) is not None
        waiter.start()
        time.sleep(TTL / 3 + 0.5)  # next in line: its keeper has proven a touch
        session = waiting.session(TTL)
        assert isinstance(session, ZooKeeperSession)
        prove = session.prove

        def recording(*args: Any, **kwargs: Any) -> Any:
            proofs.append(threading.current_thread().name)
            return prove(*args, **kwargs)

        session.prove = recording  # type: ignore[method-assign]
        leader.release()
        assert elected.wait(5)
        lease = waiter.lease
        assert isinstance(lease, Lease) and waiter.is_leader
        assert not [thread for thread in proofs if thread.startswith("leaselect-campaign")], proofs
        # the lease keeps its deadline by the keeper's renewals, as any lease does
        time.sleep(TTL)
        assert waiter.is_leader
    finally:
        waiter.close()
        leader.close()
        waiting.close()
        leading.close()


def test_a_process_with_only_a_waiter_far_back_in_line_sends_nothing_while_idle(
    url: str,
) -> None:
    """Only the next in line pays for a proof each renew interval; those behind it do not."""
    first, second, third = zk(url), zk(url), zk(url)
    name = f"q-{uuid.uuid4().hex[:8]}"
    electors = [leaselect.Elector(b, name, ttl=TTL) for b in (first, second, third)]
    try:
        assert electors[0].acquire(timeout=10) is not None
        electors[1].start()
        time.sleep(0.5)
        electors[2].start()
        time.sleep(0.5)
        with submitted_requests(third) as behind, submitted_requests(second) as next_in_line:
            time.sleep(2 * TTL / 3 + 0.5)
        assert [kind for kind, _ in behind if kind != "Ping"] == []
        assert [kind for kind, _ in next_in_line if kind != "Ping"].count("Sync") >= 1
    finally:
        for elector in electors:
            elector.close()
        for backend in (first, second, third):
            backend.close()


def test_the_next_in_line_always_has_a_proof_young_enough_for_its_grant(url: str) -> None:
    """A round proves a touch only a gap and a few round trips after sending it, so rounds
    every renew interval left the kept touch too old for a grant for the last ~70 ms of each
    interval (at TTL 3 s, tickTime 200 ms): a hand-over then had to prove its own (a tick more).
    While a candidacy is next in line, the next round now starts early enough."""
    leading, waiting = zk(url), zk(url)
    name = f"y-{uuid.uuid4().hex[:8]}"
    leader = leaselect.Elector(leading, name, ttl=TTL)
    waiter = leaselect.Elector(waiting, name, ttl=TTL)
    try:
        assert leader.acquire(timeout=10) is not None
        waiter.start()
        session = waiting.session(TTL)
        assert isinstance(session, ZooKeeperSession)
        time.sleep(TTL / 3 + 0.5)  # next in line, a first touch proven
        life = TTL / 2 - 1.5 * gap(session.conn.tick) - SLACK  # as grant_anchor takes it
        oldest = 0.0
        end = time.monotonic() + 2 * TTL
        while time.monotonic() < end:  # about six renew intervals
            proof = session._proven
            assert proof is not None
            oldest = max(oldest, SYSTEM_CLOCK.now() - proof[1].sent)
            time.sleep(0.005)
        assert oldest < life, (oldest, life)  # main: 1.2 s, life 1.14 s
        assert leader.is_leader and not waiter.is_leader
    finally:
        waiter.close()
        leader.close()
        waiting.close()
        leading.close()
