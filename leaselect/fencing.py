"""A fenced resource: the one defence that survives paused leaders and late packets.

A leader may act after its lease ended (a GC pause, a SIGSTOP, a delayed packet). The resource
itself must therefore check the fencing token of every write: accept a token only if it is
greater than every token seen, or equal to the highest and from the same holder. ``SqliteFence``
is a small, copyable implementation on a SQLite table; the same rule as a Redis script or an
etcd transaction is in ``examples/``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fence (
    resource TEXT PRIMARY KEY, token INTEGER NOT NULL, holder TEXT NOT NULL);
"""


class StaleToken(Exception):
    """A write carried a token older than the newest one the resource has seen."""

    def __init__(self, resource: str, token: int, newest: int) -> None:
        super().__init__(f"{resource!r}: token {token} is stale (newest seen is {newest})")
        self.resource, self.token, self.newest = resource, token, newest


WAL_ATTEMPTS = 100  # x 50 ms: the connection's 5 s busy timeout


class SqliteFence:
    """Applies a write only if its token passes the fence, in the same transaction."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
        self._wal()
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def _wal(self) -> None:
        """Switch to WAL. SQLite may answer "database is locked" at once, without waiting the
        busy timeout, while other connections open the same new file: try again, for up to
        the busy timeout (seen when three processes created one fence at the same moment)."""
        for attempt in range(WAL_ATTEMPTS):
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                    raise
                time.sleep(0.05)

    def write(
        self, resource: str, token: int, holder: str, apply: Callable[[sqlite3.Connection], T]
    ) -> T:
        """Run ``apply(db)`` inside the fence's transaction, or raise ``StaleToken``."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._admit(resource, token, holder)
                result = apply(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    def _admit(self, resource: str, token: int, holder: str) -> None:
        row = self._db.execute(
            "SELECT token, holder FROM fence WHERE resource=?", (resource,)
        ).fetchone()
        if row is not None and (token < row[0] or (token == row[0] and holder != row[1])):
            raise StaleToken(resource, token, row[0])
        self._db.execute(
            "INSERT OR REPLACE INTO fence (resource, token, holder) VALUES (?, ?, ?)",
            (resource, token, holder),
        )

    def newest(self, resource: str) -> int | None:
        """The highest token the resource has accepted."""
        with self._lock:
            row = self._db.execute(
                "SELECT token FROM fence WHERE resource=?", (resource,)
            ).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()
