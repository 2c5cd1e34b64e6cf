"""A database file deleted or replaced under running electors: no token goes back, the old
holder steps down."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.integration.test_sqlite_worker import Worker

TTL = 2.0


def _remove_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.remove(f"{path}{suffix}")


def _backup(path: Path, copy: Path) -> None:
    with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    with closing(sqlite3.connect(copy)) as target:
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    os.chmod(copy, 0o600)


def _token(event: dict[str, Any] | None) -> int:
    assert event is not None
    token = event["token"]
    assert isinstance(token, int)
    return token


def test_deleted_file_gives_no_older_token_and_the_holder_steps_down(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / "leases.db"
    url = f"sqlite:///{path}"
    old = Worker(url, name, TTL)
    new: Worker | None = None
    try:
        for _ in range(3):  # a few tenures, so the counter is past 1
            count = len(old.events)
            old_token = _token(old.wait_for("elected", 10, after=count))
            old.send("release")
            assert old.wait_for("lost", 5, after=count) is not None
            old.send("start")
        old_token = _token(old.wait_for("elected", 10, after=len(old.events) - 1))
        count = len(old.events)
        _remove_store(path)
        removed = time.clock_gettime(time.CLOCK_BOOTTIME)
        new = Worker(url, name, TTL)
        lost = old.wait_for("lost", TTL, after=count)
        assert lost is not None, old.events
        assert lost["reason"] == "unreachable" and lost["t"] - removed < TTL / 3 + 0.5, lost
        old.send("release")  # the old holder may have won the new file first: let `new` lead
        assert new.wait_for("elected", 10) is not None, new.events
        after = sorted(
            (e["t"], e["token"])
            for e in [*old.events[count:], *new.events]
            if e["event"] == "elected"
        )
        tokens = [token for _, token in after]
        assert tokens == sorted(set(tokens)) and tokens[0] > old_token, (old_token, after)
    finally:
        for worker in (old, new):
            if worker is not None:
                worker.stop()


def test_file_restored_from_a_copy_gives_no_older_token(tmp_path: Path, name: str) -> None:
    path = tmp_path / "leases.db"
    url = f"sqlite:///{path}"
    worker = Worker(url, name, TTL)
    try:
        first = _token(worker.wait_for("elected", 10))
        _backup(path, tmp_path / "backup.db")  # a copy taken while token `first` leads
        for _ in range(2):
            count = len(worker.events)
            worker.send("release")
            assert worker.wait_for("lost", 5, after=count) is not None
            worker.send("start")
            last = _token(worker.wait_for("elected", 10, after=count))
        assert last > first
        count = len(worker.events)
        _remove_store(path)
        shutil.copy(tmp_path / "backup.db", path)  # restored: its counter is older
        lost = worker.wait_for("lost", TTL, after=count)
        assert lost is not None, worker.events
        again = _token(worker.wait_for("elected", 10, after=count))
        assert again > last, (first, last, again)
    finally:
        worker.stop()
