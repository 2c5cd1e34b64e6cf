"""A database file deleted or replaced under running electors: no token goes back, the old
holder steps down."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import leaselect
from leaselect.elector import MAX_BACKOFF
from tests.support.sqlite_worker import Worker
from tests.support.waiting import eventually

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


_HOLDER = """
import os, sqlite3, sys
os.umask(0o077)
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE IF NOT EXISTS held (x)")
db.execute("INSERT INTO held VALUES (1)")
print("open", flush=True)
sys.stdin.read()
"""


def test_a_contender_started_on_a_replaced_file_leads_once_the_old_holders_let_go(
    tmp_path: Path, name: str
) -> None:
    """While a process still has the old file open, a new empty one cannot be opened ("disk
    I/O error": SQLite finds the old file's wal-index at the shared ``-shm`` path). A contender
    started then must not die in its constructor: it campaigns, and leads once it can."""
    path, fresh = tmp_path / "leases.db", tmp_path / "fresh.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    elector: leaselect.Elector | None = None
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        sqlite3.connect(fresh).close()  # an empty file, as a new database starts
        os.chmod(fresh, 0o600)
        os.replace(fresh, path)
        elector = leaselect.Elector(f"sqlite:///{path}", name, ttl=TTL)
        elector.start()
        time.sleep(0.5)
        assert not elector.is_leader  # its opens fail while the old file is open
        holder.communicate(b"", timeout=10)  # the old file's last connection closes
        let_go = time.monotonic()
        assert eventually(lambda: elector is not None and elector.is_leader, timeout=10)
        assert time.monotonic() - let_go < MAX_BACKOFF + TTL
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if elector is not None:
            elector.close()


def test_a_leader_steps_down_at_its_next_renewal_even_if_the_new_file_cannot_be_opened(
    tmp_path: Path, name: str
) -> None:
    """Another process still has the old file open, so the leader's reopen fails ("disk I/O
    error"); its lease is in the old file all the same and must end at the next renewal."""
    path, fresh = tmp_path / "leases.db", tmp_path / "fresh.db"
    leader = Worker(f"sqlite:///{path}", name, TTL)
    holder: subprocess.Popen[bytes] | None = None
    try:
        assert leader.wait_for("elected", 10) is not None
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        sqlite3.connect(fresh).close()
        os.chmod(fresh, 0o600)
        count = len(leader.events)
        os.replace(fresh, path)
        replaced = time.clock_gettime(time.CLOCK_BOOTTIME)
        lost = leader.wait_for("lost", TTL, after=count)
        assert lost is not None, leader.events
        assert lost["reason"] == "unreachable", lost
        assert lost["t"] - replaced < TTL / 3 + 0.3, f"{lost['t'] - replaced:.3f}s after"
    finally:
        if holder is not None:
            holder.communicate(b"", timeout=10)
        leader.stop()


def test_close_leaves_no_thread_while_the_store_cannot_be_opened(tmp_path: Path) -> None:
    """The keeper's failing round may still be in flight when the campaign gives up: close()
    waits for it (it returned with the keeper thread alive in 2 of 12 closes before)."""
    (tmp_path / "afile").touch()
    url = f"sqlite:///{tmp_path}/afile/x.db"  # a path under a regular file: never opens
    earlier = set(threading.enumerate())
    for _ in range(12):
        elector = leaselect.Elector(url, "e", ttl=TTL)
        assert elector.acquire(0.3) is None
        elector.close()
        left = [t.name for t in threading.enumerate() if t not in earlier]
        assert not left, left
