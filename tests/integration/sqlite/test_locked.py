"""A store locked by another process longer than the lease has left: the loss says why."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from tests.support.sqlite_worker import Worker


def test_locked_store_is_reported_unreachable(tmp_path: Path, name: str) -> None:
    path = tmp_path / "leases.db"
    leader = Worker(f"sqlite:///{path}?busy_timeout=5", name, 1)
    try:
        assert leader.wait_for("elected", 10) is not None
        count = len(leader.events)
        with closing(sqlite3.connect(path, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")  # holds the write lock
            lost = leader.wait_for("lost", 3, after=count)
            time.sleep(0.1)
            db.execute("ROLLBACK")
        assert lost is not None, leader.events
        assert lost["reason"] == "unreachable", lost
    finally:
        leader.stop()
