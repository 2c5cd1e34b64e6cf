"""The embedded backend: election among the processes of ONE host through a SQLite file.

Local disk only (SQLite locking is unreliable on NFS). Lease times use CLOCK_BOOTTIME with the
boot id, and the store refuses processes of another time namespace (see ``hostclock``); tokens
follow the rule of ``tokens``; the files are private unless the URL says otherwise (see
``files``). Waiters block on a datagram socket (see ``wakeup``): a release wakes the
queue in order at once; after a crash each waiter wakes when the lease's recorded expiry passes.

Every transaction first checks that the path still names the file we opened. If the file was
deleted or replaced, the backend reopens the path (with every check of a first open), and each
lease held in the old file ends at its next renewal (reason ``unreachable``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ...backend import Backend, Candidacy, Renewal, Session
from ...clock import SYSTEM_CLOCK, Clock
from ...errors import BackendUnavailable, ConfigError
from ...leader_feed import LeaderFeed
from ...lease import Leader
from ...logfields import store_log
from ...urls import StoreUrl
from .candidacy import SqliteCandidacy, left_behind, renew
from .files import (
    ACCESS_OPTION,
    Access,
    FileId,
    check_companions,
    create_database,
    current_id,
    parse_access,
    wake_directory,
)
from .hostclock import boot_id, require_linux
from .schema import claim_clock, prepare
from .wakes import MailboxWatcher
from .wakeup import Mailbox, WakeDir
from .watchers import SqliteLeaderFeed, tell, watchers_of

log = store_log("sqlite")

MIN_TTL = 0.1
DEFAULT_BUSY_TIMEOUT = 2.0
OPTIONS = ("busy_timeout", ACCESS_OPTION)


class SqliteBackend(Backend):
    """``sqlite:///absolute/path/to/file.db[?access=owner|group|all][&busy_timeout=2]``."""

    scheme = "sqlite"

    def __init__(
        self,
        path: str,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        access: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__()
        require_linux()
        self.clock = clock  # every time read: CLOCK_BOOTTIME if processes share the file
        self.path = path
        self.busy_timeout = busy_timeout
        self.access: Access = parse_access(access)
        self.generation = 0  # bumped when a file is opened at the path, and when it is left
        self.token_floor = 0  # the highest token this backend has seen in any file
        self._lock = threading.Lock()
        self._retired: list[WakeDir] = []
        self._db: sqlite3.Connection | None = None
        self._file: FileId | None = None
        self._wake: WakeDir | None = None
        self.wakes = MailboxWatcher(clock)  # the parked waiters' mailboxes
        try:  # open now if we can; else at first use, and the campaign retries like any store's
            self._follow_file()
        except BackendUnavailable as exc:
            log.debug("%s; opening it again at first use", exc)

    @classmethod
    def from_url(cls, url: StoreUrl) -> SqliteBackend:
        if url.hosts or not url.path or url.path == "/":
            raise ConfigError("sqlite URL must be sqlite:///path/to/file.db (three slashes)")
        unknown = sorted(set(url.options) - set(OPTIONS))
        if unknown:
            raise ConfigError(
                f"unknown sqlite URL option {unknown[0]!r}; valid options: {', '.join(OPTIONS)}"
            )
        if "\0" in url.path:
            raise ConfigError("sqlite URL path must not contain a NUL byte")
        path = "/" + url.path.lstrip("/")  # sqlite:///tmp/x.db and sqlite:////tmp/x.db alike
        busy_timeout = url.number("busy_timeout", DEFAULT_BUSY_TIMEOUT)
        return cls(os.path.normpath(path), busy_timeout, url.options.get(ACCESS_OPTION))

    def check_ttl(self, ttl: float) -> None:
        if ttl < MIN_TTL:
            raise ConfigError(f"the sqlite backend needs ttl >= {MIN_TTL}s, got {ttl!r}")

    def observe(self, name: str) -> Leader | None:
        with self.reading() as db:
            row = db.execute(
                "SELECT identity, token, metadata, boot, expires FROM lease WHERE name=?", (name,)
            ).fetchone()
        now = self.clock.now()
        if row is None or row[3] != boot_id() or row[4] <= now:
            return None
        return Leader(row[0], row[1], row[2], row[4] - now)

    def expire_lease(self, name: str) -> bool:
        with self.transaction() as db:
            deleted = db.execute("DELETE FROM lease WHERE name=?", (name,)).rowcount > 0
            watchers = watchers_of(db, name) if deleted else []
        tell(self, watchers)
        return deleted

    def leader_feed(self, names: Sequence[str]) -> LeaderFeed:
        return SqliteLeaderFeed(self, names)

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
    def transaction(self, busy: float | None = None) -> Iterator[sqlite3.Connection]:
        """A serialized write transaction that waits at most ``busy`` seconds for the lock;
        store errors become ``BackendUnavailable``."""
        wait = self.busy_timeout if busy is None else min(busy, self.busy_timeout)
        with self._lock, _mapped(self.path):
            db = self._follow_file()
            db.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one snapshot, no write lock (WAL readers never block writers)."""
        with self._lock, _mapped(self.path):
            db = self._follow_file()
            db.execute("BEGIN DEFERRED")
            try:
                yield db
            finally:
                db.execute("COMMIT")

    @property
    def wake(self) -> WakeDir:
        """The wake-up directory of the file we have open."""
        wake = self._wake
        if wake is None:
            raise BackendUnavailable(f"sqlite store {self.path!r} is not open yet")
        return wake

    def new_mailbox(self) -> Mailbox:
        """A wake-up socket in the store's ``-wake`` directory (recreated if someone removed it)."""
        try:
            return Mailbox(self.wake)
        except FileNotFoundError:
            wake = WakeDir(wake_directory(self.path, self.access), self.access.file_mode)
            self._retired.append(self.wake)
            self._wake = wake
            return Mailbox(wake)

    def saw_token(self, token: int) -> None:
        """Remember ``token``: no token this backend hands out later is lower or equal."""
        self.token_floor = max(self.token_floor, token)

    def _follow_file(self) -> sqlite3.Connection:
        """Open the path, or reopen it if it names another file than the one we opened (caller
        locks, or the constructor); the connection to use.

        The old connection is closed first. The new file shares the old one's ``-shm`` path, so
        both connections would map that one file, each through its own descriptor, and closing
        the old descriptor drops every POSIX lock this process holds on the file (the new
        connection's too): another process would then see no one using the shared memory,
        truncate it and re-create it, and our new connection touching its map dies of SIGBUS.
        If the open fails, the next call tries again; a leader of the old file steps down at
        its next renewal, since the generation moves on with every file opened.
        """
        if self._db is not None:
            if current_id(self.path) == self._file:
                return self._db
            self._db.close()
            self._db = None
            self.generation += 1  # the file we used is gone for us: so are its leases
        db, self._file, wake = self._open()
        old = self._wake
        if old is not None and wake.identity == old.identity:
            wake.close()
            wake = old
        elif old is not None:
            self._retired.append(old)  # waiting mailboxes may still use it: closed last
        self._db, self._wake = db, wake
        self.generation += 1
        return db

    def _open(self) -> tuple[sqlite3.Connection, FileId, WakeDir]:
        try:
            file = create_database(self.path, self.access)
            db = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailable(f"cannot open sqlite store {self.path!r}: {exc}") from None
        try:
            prepare(db, self.busy_timeout, self.clock)
            check_companions(self.path, self.access)
            if current_id(self.path) != file:
                raise BackendUnavailable(f"sqlite store {self.path!r} was replaced while opening")
            claim_clock(db, self.path)
            wake = WakeDir(wake_directory(self.path, self.access), self.access.file_mode)
        except (OSError, sqlite3.Error) as exc:
            db.close()
            raise BackendUnavailable(f"cannot open sqlite store {self.path!r}: {exc}") from None
        except BaseException:
            db.close()
            raise
        return db, file, wake

    def _open_session(self, ttl: float) -> Session:
        return SqliteSession(self, ttl)

    def _close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            for wake in [*self._retired, *([self._wake] if self._wake else [])]:
                wake.close()

    def __repr__(self) -> str:
        return f"SqliteBackend({self.path!r})"


@contextmanager
def _mapped(path: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise BackendUnavailable(f"sqlite store {path!r}: {exc}") from None
    except OSError as exc:
        raise BackendUnavailable(f"sqlite store {path!r}: {exc}") from None


class SqliteSession(Session):
    """Leases of one TTL in a SQLite store."""

    def __init__(self, backend: SqliteBackend, ttl: float) -> None:
        super().__init__(ttl)
        self.backend = backend

    def candidacy(self, name: str, identity: str, metadata: str) -> Candidacy:
        return SqliteCandidacy(self, name, identity, metadata)

    def keep_alive(self, held: Sequence[Candidacy], sent: float) -> list[Renewal]:
        # a renewal waits for a locked store at most ttl/6, so a store locked past the lease's
        # end is reported as failed renewals (lost: unreachable), not as a silent expiry
        mine: list[SqliteCandidacy] = list(held)  # type: ignore[arg-type]
        try:
            with self.backend.transaction(busy=self.ttl / 6) as db:
                return [renew(db, c, self.ttl) for c in mine]
        except BackendUnavailable:
            # the file was deleted or replaced and the new one cannot be opened yet (another
            # process still has the old one open): leases in the old file end now regardless
            gone = [left_behind(c) for c in mine]
            if not any(gone):
                raise
            return [renewal or Renewal(None, None) for renewal in gone]
