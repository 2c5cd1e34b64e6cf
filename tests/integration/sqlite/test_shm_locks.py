"""The embedded store's process keeps its SQLite locks when it follows a replaced database file.

The new file shares the old one's ``-shm`` path. Had the process opened the new connection
before closing the old one, closing the old descriptor would drop every POSIX lock the process
holds on the ``-shm`` file (the new connection's included): another process could then truncate
the shared memory under the map and the elector would die of SIGBUS (seen in 1 of 5 "db file
replaced" faults). The locks are read from /proc/locks: deterministic, unlike the crash.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.support.private import held_locks
from tests.support.waiting import eventually

HOLDER = """
import sys, time, leaselect
elector = leaselect.Elector(sys.argv[1], "shm", ttl=1.5)
elector.start()
print("ready", flush=True)
time.sleep(60)
"""


def _locked_bytes(pid: int, path: Path) -> set[tuple[int, int]]:
    """(start, end) of every lock ``pid`` holds on ``path``'s file, from /proc/locks."""
    st = os.stat(path)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return {
        (lock.start, lock.end) for lock in held_locks() if (lock.pid, lock.file) == (pid, inode)
    }


def test_following_a_replaced_file_keeps_the_shared_memory_locks(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"sqlite:///{db}"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        shm = Path(f"{db}-shm")
        dms = (128, 128)  # SQLite's "someone uses this shared memory" byte
        assert eventually(lambda: dms in _locked_bytes(holder.pid, shm), timeout=5)
        fresh = tmp_path / "fresh.db"
        sqlite3.connect(fresh).close()
        os.chmod(fresh, 0o600)
        os.replace(fresh, db)  # the -wal and -shm files stay: the new file uses them too
        time.sleep(1.5)  # the holder's next transactions reopen the path on the new file
        assert holder.poll() is None
        assert eventually(lambda: dms in _locked_bytes(holder.pid, shm), timeout=5), (
            "the holder followed the new file without its lock on the -shm file"
        )
        time.sleep(1.0)  # and keeps it while it works on the new file
        assert dms in _locked_bytes(holder.pid, shm)
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()
