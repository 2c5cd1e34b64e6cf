"""What a store file gets when a backend opens it: WAL, the schema, and the clock domain of the
processes that use it (``hostclock``)."""

from __future__ import annotations

import sqlite3
import threading

from ...clock import Clock
from ...errors import ConfigError
from .hostclock import boot_id, clock_domain, describe_domain
from .watchers import WATCHER_TABLE

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, identity TEXT NOT NULL,
    metadata TEXT NOT NULL, token INTEGER NOT NULL, boot TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, token INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mark (
    name TEXT NOT NULL, mark TEXT NOT NULL, token INTEGER NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (name, mark));
CREATE TABLE IF NOT EXISTS waiter (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, address TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
    + WATCHER_TABLE
)


def prepare(db: sqlite3.Connection, busy_timeout: float, clock: Clock) -> None:
    """Switch to WAL and create the schema; retried while another process does the same
    (changing the journal mode of a new file can fail with "locked" without a busy wait)."""
    give_up = clock.now() + busy_timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or clock.now() > give_up:
                raise
            clock.wait(threading.Event(), 0.01)


def claim_clock(db: sqlite3.Connection, path: str) -> None:
    """Record our clock domain in a store without one for this boot; refuse another domain."""
    ours = clock_domain()
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT value FROM meta WHERE key='clock'").fetchone()
        if row is None or row[0].partition("/")[0] != boot_id():
            db.execute("INSERT OR REPLACE INTO meta VALUES ('clock', ?)", (ours,))
        elif row[0] != ours:
            raise ConfigError(
                f"sqlite store {path!r} is used from another time namespace "
                f"({describe_domain(row[0])}; this process: {describe_domain(ours)}): lease times "
                "would mean different instants. The embedded store serves one time namespace; "
                "run every contender in the same one, or use a networked store"
            )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
