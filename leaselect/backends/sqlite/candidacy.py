"""One process's place in one election of the embedded store: campaign, wait, renew, resign.

A waiter registers a wake-up socket (see ``wakeup``) in the ``waiter`` table, in FIFO order. A
wake-up is a hint: the waiter first reads the lease without the write lock (a flood of wake-ups
costs cheap reads, never a lock the leader's renewals would wait for) and takes the write lock
only when the lease looks free or it is not queued yet. A release wakes every queued waiter
with its rank (rank ``k`` campaigns after ``k * HANDOVER_STEP``), so one stopped or dead waiter
cannot stall a hand-over; a waiter no process listens for any more is dropped from the queue.
A campaign that finds the lease free but others queued queues behind them and waits their head
start: the releasing process campaigning again at once does not take the lease back from the
waiter its release woke.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Callable

from ...backend import Candidacy, Grant, Renewal, Waiting
from ...lease import LostReason
from .hostclock import boot_id
from .store import Store, StoreSession
from .tokens import next_token, wall_microseconds
from .wakeup import HANDOVER_STEP, Delivery, Mailbox, send
from .watchers import tell, watchers_of

_LEASE = "SELECT holder, boot, expires, token FROM lease WHERE name=?"
# a campaign that finds others queued for a free lease waits as long as this many ranks take
# at most: dead waiters' rows (removed only by a release) must not hold it back a whole TTL
HEAD_START_RANKS = 3


class SqliteCandidacy(Candidacy):
    """One process's place in one election of a SQLite store."""

    def __init__(self, session: StoreSession, name: str, identity: str, metadata: str) -> None:
        super().__init__(name, identity, metadata)
        self.session = session
        self.holder = secrets.token_hex(16)
        self.leading = False
        self.generation = -1  # the backend generation (file) our lease lives in
        self._mailbox: Mailbox | None = None
        self._mailbox_generation = -1
        self._mailbox_lock = threading.Lock()
        self._interrupted = threading.Event()
        self._resume: Callable[[], None] | None = None  # of a parked wait (see park)
        self._parked_on: Mailbox | None = None  # the mailbox the backend's watcher watches
        self._resume_lock = threading.Lock()

    @property
    def backend(self) -> Store:
        return self.session.backend

    def campaign(self, sent: float) -> Grant | Waiting:
        # an interrupt from before this campaign is stale (a release, then a start): the
        # elector waits only while wanted, and a release from now on interrupts again
        self._interrupted.clear()
        mailbox = self._mailbox
        if mailbox is not None:
            mailbox.drain()
        queued = self._still_queued()
        if queued is not None:
            return queued
        with self.backend.transaction() as db:
            now = self.backend.clock.now()
            row = db.execute(_LEASE, (self.name,)).fetchone()
            if self._held_by_other(row, now):
                self.backend.saw_token(row[3])
                self._queue_up(db)
                return Waiting(row[2] - now)
            ahead = self._queued_ahead(db)
            if ahead:
                self._queue_up(db)
                return Waiting(min(ahead, HEAD_START_RANKS) * HANDOVER_STEP)
            token = self._take(db, now)
            watchers = watchers_of(db, self.name)
        self._close_mailbox()  # a leader waits for nothing
        tell(self.backend, watchers)
        return Grant(token, self.session.ttl, sent)

    def _still_queued(self) -> Waiting | None:
        """Waiting again, from a read without the write lock, if someone else leads and we are
        queued in the current file; else None (take the write lock)."""
        mailbox, generation = self._mailbox, self._mailbox_generation
        if mailbox is None or generation != self.backend.generation:
            return None
        with self.backend.reading() as db:
            row = db.execute(_LEASE, (self.name,)).fetchone()
            queued = db.execute("SELECT 1 FROM waiter WHERE address=?", (mailbox.name,)).fetchone()
        now = self.backend.clock.now()
        if queued is None or generation != self.backend.generation:
            return None
        if not self._held_by_other(row, now):
            return None
        self.backend.saw_token(row[3])
        return Waiting(row[2] - now)

    def _queue_up(self, db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT OR IGNORE INTO waiter (name, address) VALUES (?, ?)",
            (self.name, self._open_mailbox().name),
        )

    def _queued_ahead(self, db: sqlite3.Connection) -> int:
        """How many waiters a campaign that is not queued yet finds queued for a free lease:
        a release woke them, so it waits their head start (at most ``HEAD_START_RANKS``
        ranks) and queues behind them. A queued campaign takes a free lease: a waiter that does not
        come (dead, stopped) costs a later one a head start once, never the lease."""
        mailbox = self._mailbox
        if (
            mailbox is not None
            and db.execute("SELECT 1 FROM waiter WHERE address=?", (mailbox.name,)).fetchone()
        ):
            return 0
        row = db.execute("SELECT count(*) FROM waiter WHERE name=?", (self.name,)).fetchone()
        return int(row[0])

    def _held_by_other(self, row: tuple[str, str, float, int] | None, now: float) -> bool:
        return row is not None and row[0] != self.holder and row[1] == boot_id() and row[2] > now

    def _take(self, db: sqlite3.Connection, now: float) -> int:
        mailbox = self._mailbox
        if mailbox is not None:
            db.execute("DELETE FROM waiter WHERE address=?", (mailbox.name,))
        counter = db.execute("SELECT token FROM counter WHERE name=?", (self.name,)).fetchone()
        token = next_token(
            int(counter[0]) if counter else 0, self.backend.token_floor, wall_microseconds()
        )
        db.execute(
            "INSERT INTO counter (name, token) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET token = excluded.token",
            (self.name, token),
        )
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
        self.backend.saw_token(token)
        self.leading = True
        self.generation = self.backend.generation
        return token

    def wait(self, waiting: Waiting, timeout: float) -> None:
        if waiting.expires_in is not None:
            timeout = min(timeout, waiting.expires_in + 0.001)
        if not self._interrupted.is_set():
            mailbox = self._mailbox
            if mailbox is None:
                self._interrupted.wait(timeout)
            else:
                rank = mailbox.wait(timeout)
                if rank:  # later in the queue: give the ones before us a head start
                    mailbox.wait(rank * HANDOVER_STEP)
        self._interrupted.clear()

    def park(self, waiting: Waiting, timeout: float, resume: Callable[[], None]) -> float:
        """``wait`` without a thread: the backend's watcher calls ``resume`` when our mailbox
        gets a wake-up (after its rank's head start), as does ``interrupt``; the caller
        resumes at the holder's expiry otherwise."""
        if waiting.expires_in is not None:
            timeout = min(timeout, waiting.expires_in + 0.001)
        with self._resume_lock:
            if self._interrupted.is_set() or timeout <= 0:
                self._interrupted.clear()
                return 0.0
            self._resume = resume
            mailbox = self._parked_on = self._mailbox
        if mailbox is not None and not self.backend.wakes.watch(mailbox, self._resume_now):
            with self._resume_lock:  # closed meanwhile: campaign again now
                self._resume = self._parked_on = None
            return 0.0
        return timeout

    def unpark(self) -> None:
        with self._resume_lock:
            self._resume, mailbox, self._parked_on = None, self._parked_on, None
        if mailbox is not None:
            self.backend.wakes.unwatch(mailbox)
        self._interrupted.clear()

    def _resume_now(self) -> None:
        """End a parked wait, if one is parked (the watcher's thread, or ``interrupt``)."""
        with self._resume_lock:
            resume, mailbox = self._resume, self._parked_on
            self._resume = self._parked_on = None
        if resume is None:
            return
        if mailbox is not None:
            self.backend.wakes.unwatch(mailbox)
        self._interrupted.clear()
        resume()

    def resign(self) -> None:
        mailbox = self._mailbox
        try:
            with self.backend.transaction() as db:
                removed = db.execute(
                    "DELETE FROM lease WHERE name=? AND holder=?", (self.name, self.holder)
                ).rowcount
                if mailbox is not None:
                    db.execute("DELETE FROM waiter WHERE address=?", (mailbox.name,))
                free = (
                    db.execute("SELECT 1 FROM lease WHERE name=?", (self.name,)).fetchone() is None
                )
                queue = db.execute(
                    "SELECT address FROM waiter WHERE name=? ORDER BY seq", (self.name,)
                ).fetchall()
                watchers = watchers_of(db, self.name) if removed else []
                self.leading = False
                self.holder = secrets.token_hex(16)
        finally:
            self._close_mailbox()  # even if the store failed: a row left behind is a dead waiter
        if free:
            self._wake_queue([address for (address,) in queue])
        tell(self.backend, watchers)

    def _wake_queue(self, names: list[str]) -> None:
        """Wake every live waiter with its rank; drop the dead ones from the queue."""
        wake, dead, rank = self.backend.wake, [], 0
        for name in names:
            delivery = send(wake.address(name), rank)
            if delivery == Delivery.SENT:
                rank += 1
            elif delivery == Delivery.GONE:
                dead.append(name)
        if dead:
            with self.backend.transaction() as db:
                db.executemany("DELETE FROM waiter WHERE address=?", [(a,) for a in dead])

    def interrupt(self) -> None:
        self._interrupted.set()
        mailbox = self._mailbox
        if mailbox is not None:
            mailbox.interrupt()
        self._resume_now()

    def _open_mailbox(self) -> Mailbox:
        with self._mailbox_lock:
            generation = self.backend.generation
            if self._mailbox is not None and self._mailbox_generation != generation:
                self._mailbox.close()  # bound in the directory of a file we no longer use
                self._mailbox = None
            if self._mailbox is None:
                self._mailbox = self.backend.new_mailbox()
                self._mailbox_generation = generation
            return self._mailbox

    def _close_mailbox(self) -> None:
        with self._mailbox_lock:
            mailbox, self._mailbox = self._mailbox, None
        if mailbox is not None:
            mailbox.close()


def left_behind(candidacy: SqliteCandidacy) -> Renewal | None:
    """The end of ``candidacy``'s tenure if its lease is in a file the path no longer names
    (deleted or replaced: step down now, even before the new file can be opened), else None."""
    if candidacy.leading and candidacy.generation != candidacy.backend.generation:
        candidacy.leading = False
        return Renewal(None, LostReason.UNREACHABLE)
    return None


def renew(db: sqlite3.Connection, candidacy: SqliteCandidacy, ttl: float) -> Renewal:
    """Extend ``candidacy``'s lease in the transaction ``db``."""
    if not candidacy.leading:
        return Renewal(None, None)
    gone = left_behind(candidacy)
    if gone is not None:
        return gone
    now = candidacy.backend.clock.now()
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
