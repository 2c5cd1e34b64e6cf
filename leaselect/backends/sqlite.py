"""The embedded backend: election among the processes of ONE host through a SQLite file.

Local disk only (SQLite locking is unreliable on NFS). Lease times use CLOCK_BOOTTIME with the
boot id (see ``hostclock``); tokens come from a per-election counter in the same file, so they
strictly increase across tenures and survive restarts of every process. Waiters block on a
datagram socket (see ``wakeup``): a release wakes the first live waiter at once; after a crash
each waiter wakes when the lease's recorded expiry passes.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..backend import Backend, Candidacy, Grant, Renewal, Session, Waiting
from ..errors import BackendUnavailable, ConfigError
from ..lease import Leader, LostReason
from ..urls import StoreUrl
from .hostclock import boot_id, host_now, require_linux
from .wakeup import Mailbox, send

MIN_TTL = 0.1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, identity TEXT NOT NULL,
    metadata TEXT NOT NULL, token INTEGER NOT NULL, boot TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, token INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mark (
    name TEXT NOT NULL, mark TEXT NOT NULL, token INTEGER NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (name, mark));
CREATE TABLE IF NOT EXISTS waiter (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, address TEXT NOT NULL UNIQUE);
"""


class SqliteBackend(Backend):
    """``sqlite:///absolute/path/to/file.db``."""

    scheme = "sqlite"

    def __init__(self, path: str, busy_timeout: float = 2.0) -> None:
        super().__init__()
        require_linux()
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            _prepare(self._db, busy_timeout)
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"cannot open sqlite store {path!r}: {exc}") from None

    @classmethod
    def from_url(cls, url: StoreUrl) -> SqliteBackend:
        if url.hosts or not url.path or url.path == "/":
            raise ConfigError("sqlite URL must be sqlite:///path/to/file.db (three slashes)")
        path = "/" + url.path.lstrip("/")  # sqlite:///tmp/x.db and sqlite:////tmp/x.db alike
        return cls(os.path.normpath(path), float(url.options.get("busy_timeout", 2.0)))

    def check_ttl(self, ttl: float) -> None:
        if ttl < MIN_TTL:
            raise ConfigError(f"the sqlite backend needs ttl >= {MIN_TTL}s, got {ttl!r}")

    def observe(self, name: str) -> Leader | None:
        with self.transaction() as db:
            row = db.execute(
                "SELECT identity, token, metadata, boot, expires FROM lease WHERE name=?", (name,)
            ).fetchone()
        if row is None or row[3] != boot_id() or row[4] <= host_now():
            return None
        return Leader(row[0], row[1], row[2], row[4] - host_now())

    def advance_mark(self, name: str, mark: str, value: int, token: int) -> bool:
        with self.transaction() as db:
            row = db.execute(
                "SELECT token, value FROM mark WHERE name=? AND mark=?", (name, mark)
            ).fetchone()
            if row is not None and (row[0] > token or row[1] >= value):
                return False
            db.execute(
                "INSERT OR REPLACE INTO mark VALUES (?, ?, ?, ?)", (name, mark, token, value)
            )
        return True

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A serialized write transaction; store errors become ``BackendUnavailable``."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise BackendUnavailable(f"sqlite store {self.path!r}: {exc}") from None

    def _open_session(self, ttl: float) -> Session:
        return SqliteSession(self, ttl)

    def _close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SqliteBackend({self.path!r})"


def _prepare(db: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch to WAL and create the schema; retried while another process does the same
    (changing the journal mode of a new file can fail with "locked" without a busy wait)."""
    give_up = time.monotonic() + busy_timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > give_up:
                raise
            time.sleep(0.01)


class SqliteSession(Session):
    """Leases of one TTL in a SQLite store."""

    def __init__(self, backend: SqliteBackend, ttl: float) -> None:
        super().__init__(ttl)
        self.backend = backend

    def candidacy(self, name: str, identity: str, metadata: str) -> Candidacy:
        return SqliteCandidacy(self, name, identity, metadata)

    def keep_alive(self, held: Sequence[Candidacy], sent: float) -> list[Renewal]:
        with self.backend.transaction() as db:
            return [_renew(db, c, self.ttl) for c in held]  # type: ignore[arg-type]


def _renew(db: sqlite3.Connection, candidacy: SqliteCandidacy, ttl: float) -> Renewal:
    if not candidacy.leading:
        return Renewal(None, None)
    now = host_now()
    updated = db.execute(
        "UPDATE lease SET expires=? WHERE name=? AND holder=? AND boot=? AND expires>?",
        (now + ttl, candidacy.name, candidacy.holder, boot_id(), now),
    ).rowcount
    if updated:
        return Renewal(ttl)
    candidacy.leading = False
    owner = db.execute("SELECT holder FROM lease WHERE name=?", (candidacy.name,)).fetchone()
    taken = owner is not None and owner[0] != candidacy.holder
    return Renewal(None, LostReason.TAKEN if taken else LostReason.EXPIRED)


class SqliteCandidacy(Candidacy):
    """One process's place in one election of a SQLite store."""

    def __init__(self, session: SqliteSession, name: str, identity: str, metadata: str) -> None:
        super().__init__(name, identity, metadata)
        self.session = session
        self.holder = secrets.token_hex(16)
        self.leading = False
        self._mailbox = Mailbox()

    def campaign(self, sent: float) -> Grant | Waiting:
        self._mailbox.drain()
        with self.session.backend.transaction() as db:
            now = host_now()
            row = db.execute(
                "SELECT holder, boot, expires FROM lease WHERE name=?", (self.name,)
            ).fetchone()
            if row is not None and row[0] != self.holder and row[1] == boot_id() and row[2] > now:
                db.execute(
                    "INSERT OR IGNORE INTO waiter (name, address) VALUES (?, ?)",
                    (self.name, self._mailbox.address),
                )
                return Waiting(row[2] - now)
            token = self._take(db, now)
        return Grant(token, self.session.ttl, sent)

    def _take(self, db: sqlite3.Connection, now: float) -> int:
        db.execute("DELETE FROM waiter WHERE address=?", (self._mailbox.address,))
        db.execute(
            "INSERT INTO counter (name, token) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET token = token + 1",
            (self.name,),
        )
        (token,) = db.execute("SELECT token FROM counter WHERE name=?", (self.name,)).fetchone()
        db.execute(
            "INSERT OR REPLACE INTO lease VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self.name,
                self.holder,
                self.identity,
                self.metadata,
                token,
                boot_id(),
                now + self.session.ttl,
            ),
        )
        self.leading = True
        return int(token)

    def wait(self, waiting: Waiting, timeout: float) -> None:
        if waiting.expires_in is not None:
            timeout = min(timeout, waiting.expires_in + 0.001)
        self._mailbox.wait(timeout)

    def resign(self) -> None:
        with self.session.backend.transaction() as db:
            db.execute("DELETE FROM lease WHERE name=? AND holder=?", (self.name, self.holder))
            db.execute("DELETE FROM waiter WHERE address=?", (self._mailbox.address,))
            free = db.execute("SELECT 1 FROM lease WHERE name=?", (self.name,)).fetchone() is None
            queue = db.execute(
                "SELECT address FROM waiter WHERE name=? ORDER BY seq", (self.name,)
            ).fetchall()
            self.leading = False
            self.holder = secrets.token_hex(16)
        if free:
            self._wake_first([address for (address,) in queue])

    def _wake_first(self, addresses: list[str]) -> None:
        dead = []
        for address in addresses:
            if send(address):
                break
            dead.append(address)
        if dead:
            with self.session.backend.transaction() as db:
                db.executemany("DELETE FROM waiter WHERE address=?", [(a,) for a in dead])

    def interrupt(self) -> None:
        self._mailbox.interrupt()
