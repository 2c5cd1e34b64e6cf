"""ZooKeeper: many elections on one backend. A renewal round proves every leader with one
``check`` multi (one quorum write), not one write per leader, and a node missing from the middle
of a multi ends exactly its own tenure."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from kazoo.client import KazooClient

import leaselect
from leaselect.backends.zookeeper.session import ZooKeeperSession
from leaselect.lease import Lease, LostReason
from tests.support.zookeeper import submitted_requests, zk

TTL = 3.0


def test_fifty_leaders_are_proven_with_one_check_write_per_round(url: str) -> None:
    backend = zk(url)
    tag = uuid.uuid4().hex[:8]
    electors = [leaselect.Elector(backend, f"m-{tag}-{i}", ttl=TTL) for i in range(50)]
    try:
        assert all(elector.acquire(timeout=10) is not None for elector in electors)
        time.sleep(0.1)
        with submitted_requests(backend) as submitted:
            time.sleep(TTL + 0.5)  # at least two whole renewal rounds
        kinds = [kind for kind, _ in submitted if kind != "Ping"]
        # A round is sync, check, then the next round's touch; the window may cut a round at
        # either end, so count from the first sync to the last touch.
        assert "Sync" in kinds and "Exists" in kinds, kinds
        first, last = kinds.index("Sync"), len(kinds) - 1 - kinds[::-1].index("Exists")
        rounds = kinds[first : last + 1]
        syncs, writes = rounds.count("Sync"), rounds.count("Transaction")
        assert syncs >= 2 and writes == syncs, (syncs, writes)  # was 50 writes per sync
        assert rounds.count("Exists") == syncs, kinds  # one touch per round: was 50
        assert all(elector.is_leader for elector in electors)
    finally:
        for elector in electors:
            elector.close()
        backend.close()


def test_nodes_deleted_among_many_leaders_end_exactly_their_tenures(
    url: str, raw: KazooClient
) -> None:
    backend = zk(url)
    tag = uuid.uuid4().hex[:8]
    lost: dict[str, LostReason] = {}
    changed = threading.Event()

    def recorder(name: str):  # type: ignore[no-untyped-def]
        def on_lost(lease: Lease, reason: LostReason) -> None:
            lost[name] = reason
            changed.set()

        return on_lost

    names = [f"d-{tag}-{i}" for i in range(20)]
    electors = [leaselect.Elector(backend, n, ttl=TTL, on_lost=recorder(n)) for n in names]
    try:
        assert all(elector.acquire(timeout=10) is not None for elector in electors)
        victims = [names[0], names[7], names[19]]
        for name in victims:
            parent = f"/leaselect/{name}"
            for child in raw.get_children(parent):
                raw.delete(f"{parent}/{child}")
        deadline = time.monotonic() + TTL
        while len(lost) < len(victims) and time.monotonic() < deadline:
            changed.wait(0.1)
        assert lost == {name: LostReason.TAKEN for name in victims}
        time.sleep(TTL)  # past every deadline the survivors had: renewals keep them
        assert lost == {name: LostReason.TAKEN for name in victims}
        leading = {name for name, elector in zip(names, electors, strict=True) if elector.is_leader}
        assert leading == set(names) - set(victims)
    finally:
        for elector in electors:
            elector.close()
        backend.close()


def test_a_check_multi_names_every_missing_node(url: str, raw: KazooClient) -> None:
    """Nodes missing at the start, middle and end of one multi: each is reported absent (the
    multi fails on the first; the rest are asked again), the others present."""
    backend = zk(url)
    parent = f"/leaselect-check-{uuid.uuid4().hex[:8]}"
    try:
        session = backend.session(TTL)
        assert isinstance(session, ZooKeeperSession)
        client, _ = session.live()
        paths = [f"{parent}/n{i}" for i in range(12)]
        for path in paths:
            raw.create(path, makepath=True)
        for i in (0, 5, 6, 11):
            raw.delete(paths[i])
        present = session._check_all(client, paths)
        assert present == [i not in (0, 5, 6, 11) for i in range(12)]
        assert session._check_all(client, paths[1:5]) == [True] * 4
    finally:
        raw.delete(parent, recursive=True)
        backend.close()


def test_a_leader_whose_watch_fired_on_a_data_change_still_sees_its_node_deleted_at_once(
    url: str, raw: KazooClient
) -> None:
    """A data change uses the watch on a leader's node up; the next round sets it again (it is
    not sent every round), so a later deletion still ends the tenure through the watch."""
    backend = zk(url)
    name = f"w-{uuid.uuid4().hex[:8]}"
    lost = threading.Event()
    others = [leaselect.Elector(backend, f"{name}-{i}", ttl=TTL) for i in range(3)]
    elector = leaselect.Elector(backend, name, ttl=TTL, on_lost=lambda lease, reason: lost.set())
    exists: list[str] = []
    restore: list[Any] = []

    def recording(request: Any, timeout: float, xid: int | None = None) -> Any:
        if type(request).__name__ == "Exists":
            exists.append(request.path)
        return submit(request, timeout, xid)

    try:
        assert all(e.acquire(timeout=10) is not None for e in [*others, elector])
        parent = f"/leaselect/{name}"
        (child,) = raw.get_children(parent)
        path = f"{parent}/{child}"
        connection = backend.conn.client()._connection  # the session's (made at the acquire)
        submit = connection._submit
        connection._submit = recording
        restore.append(lambda: setattr(connection, "_submit", submit))
        time.sleep(TTL / 3 + 0.5)  # a round: not a look at our node (its watch is set)
        before = exists.count(path)
        raw.set(path, b"{}")
        time.sleep(TTL / 3 + 0.5)  # the next round sets the watch again
        assert exists.count(path) == before + 1, (before, exists)
        raw.delete(path)
        assert lost.wait(TTL)
        assert not elector.is_leader and all(e.is_leader for e in others)
    finally:
        for undo in restore:
            undo()
        for e in [*others, elector]:
            e.close()
        backend.close()


def test_fifty_leaders_releasing_at_once_send_one_delete_each(url: str) -> None:
    """Each resign sends the deletes of every node given up and not yet gone: without a note of
    the deletes in flight, 50 resigns at once sent about 50 deletes each."""
    backend = zk(url)
    tag = uuid.uuid4().hex[:8]
    electors = [leaselect.Elector(backend, f"r-{tag}-{i}", ttl=TTL) for i in range(50)]
    try:
        assert all(elector.acquire(timeout=10) is not None for elector in electors)
        go = threading.Barrier(50)

        def release(elector: leaselect.Elector) -> None:
            go.wait()
            elector.release()

        threads = [threading.Thread(target=release, args=(e,)) for e in electors]
        with submitted_requests(backend) as submitted:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
        deletes = [kind for kind, _ in submitted].count("Delete")
        assert deletes == 50, deletes
    finally:
        for elector in electors:
            elector.close()
        backend.close()


def _register_kinds(backend: Any, names: list[str]) -> list[str]:
    """The requests (pings, renewal rounds aside) of ``acquire`` on each of ``names``."""
    electors = [leaselect.Elector(backend, name, ttl=TTL) for name in names]
    backend.session(TTL)  # connected: the requests go through its client
    try:
        with submitted_requests(backend) as submitted:
            assert all(elector.acquire(timeout=10) is not None for elector in electors)
        return [kind for kind, _ in submitted if kind in ("Create", "Create2", "GetChildren")]
    finally:
        for elector in electors:
            elector.close()


def test_a_process_making_new_elections_sends_each_ones_node_in_the_same_round_trip(
    url: str,
) -> None:
    """Once a campaign found its election's node missing, the next new elections send the
    election's node, theirs and the listing together: no create that fails for lack of the
    parent, no listing of a missing node (3 requests, one round trip; it was 5 in three)."""
    backend = zk(url)
    tag = uuid.uuid4().hex[:8]
    try:
        _register_kinds(backend, [f"n-{tag}-first"])  # finds its election's node missing
        kinds = _register_kinds(backend, [f"n-{tag}-{i}" for i in range(10)])
        assert sorted(kinds) == sorted(["Create", "Create2", "GetChildren"] * 10), kinds
    finally:
        backend.close()


def test_a_process_joining_existing_elections_sends_no_election_node(url: str) -> None:
    """A fresh session campaigns in elections that exist without sending their node first;
    and one create of an existing election's node (which fails) turns that off again."""
    tag = uuid.uuid4().hex[:8]
    names = [f"e-{tag}-{i}" for i in range(10)]
    maker = zk(url)
    try:
        _register_kinds(maker, names)
    finally:
        maker.close()
    backend = zk(url)
    try:
        kinds = _register_kinds(backend, names)
        assert sorted(kinds) == sorted(["Create2", "GetChildren"] * 10), kinds
        _register_kinds(backend, [f"e-{tag}-new"])  # a new election: turns parent-first on
        kinds = _register_kinds(backend, names[:1])  # exists: its node's create fails once
        assert kinds.count("Create") == 1 and kinds.count("Create2") == 1, kinds
        kinds = _register_kinds(backend, names[1:])  # then no more
        assert sorted(kinds) == sorted(["Create2", "GetChildren"] * 9), kinds
    finally:
        backend.close()
