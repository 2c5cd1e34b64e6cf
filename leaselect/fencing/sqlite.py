"""A resource in a SQLite file that applies the token rule in the transaction of each write.

The file is the resource's, not the embedded store's: any leader (of any store) writes through
it with its lease's token and identity. Standard library only.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .rule import StaleToken, admits

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fence (
    resource TEXT PRIMARY KEY, token INTEGER NOT NULL, holder TEXT NOT NULL);
"""


WAL_ATTEMPTS = 100  # x 50 ms: the connection's 5 s busy timeout


class SqliteFence:
    """Applies a write only if its token passes the rule (``admits``), in the same transaction.

    Its guarantee is the rule's: once a tenure has written, no earlier tenure's write is
    applied again, in any process that writes through the same file.
    """

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
        if not admits(None if row is None else (int(row[0]), str(row[1])), token, holder):
            raise StaleToken(resource, token, int(row[0]))
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
