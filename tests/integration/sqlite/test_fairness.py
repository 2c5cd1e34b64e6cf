"""On the embedded store a released lease goes to the waiter the release woke, not to a
campaign that comes later (the releasing process campaigning again at once, say)."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import leaselect
from tests.support.waiting import eventually

TTL = 5.0
ROUNDS = 10


def queued(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM waiter").fetchone()[0])


def test_a_release_then_start_does_not_take_the_lease_back_from_the_woken_waiter(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    elected: dict[str, threading.Event] = {"a": threading.Event(), "b": threading.Event()}
    electors = {
        who: leaselect.Elector(
            leaselect.connect(url),
            "job",
            identity=who,
            ttl=TTL,
            on_elected=lambda lease, who=who: elected[who].set(),  # type: ignore[misc]
        )
        for who in ("a", "b")
    }
    try:
        electors["a"].start()
        assert elected["a"].wait(5)
        electors["b"].start()
        leader, waiter = "a", "b"
        taken_back = 0
        for _ in range(ROUNDS):
            queued_one = eventually(lambda: queued(path) == 1, 5.0, step=0.005)
            assert queued_one, "the waiter never queued"
            elected[waiter].clear()
            electors[leader].release()
            electors[leader].start()  # campaigns again at once
            if not elected[waiter].wait(3):
                taken_back += 1
                releaser = electors[leader]

                def leads(elector: leaselect.Elector = releaser) -> bool:
                    return elector.is_leader

                assert eventually(leads, 5.0, step=0.005)
                continue
            leader, waiter = waiter, leader
        assert taken_back == 0, f"the releaser took the lease back in {taken_back}/{ROUNDS}"
    finally:
        for elector in electors.values():
            elector.close()
            elector.backend.close()


def test_dead_waiters_hold_a_free_lease_back_a_short_head_start_only(tmp_path: Path) -> None:
    """Rows of waiters that died while queued stay until a release; a fresh campaign on the
    free lease waits their head start, capped, not 0.1 s per row (30 rows were 3 s, more
    than a 2 s TTL)."""
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    backend = leaselect.connect(url)
    first = leaselect.Elector(backend, "job", ttl=2.0)
    assert first.acquire(timeout=5) is not None
    first.close()
    with closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO waiter (name, address) VALUES ('job', ?)",
            [(f"w-dead-{i}",) for i in range(30)],
        )
    fresh = leaselect.Elector(backend, "job", ttl=2.0)
    try:
        started = time.monotonic()
        assert fresh.acquire(timeout=5) is not None
        assert time.monotonic() - started < 1.0
    finally:
        fresh.close()
        backend.close()
