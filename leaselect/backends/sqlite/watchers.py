"""Leader watches of the embedded store: a wake-up socket per watch, told by every change.

A watch binds a ``Mailbox`` in the store's ``-wake`` directory and registers its address in the
``watcher`` table for each election it watches. Every write that changes a leader (a campaign
that takes the lease, a resign that deletes it, ``expire_lease``) reads the election's watchers
inside its transaction and sends each one a datagram after the commit; a watcher that is gone
(its process died) loses its row then. A lease that simply expires writes nothing: the watch
reads again when the lease it saw would expire (``expiry_pushed`` is False).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence

from ...errors import LeaselectError
from ...leader_feed import Backoff, LeaderFeed
from .store import Store
from .wakeup import Delivery, Mailbox, send

WATCHER_TABLE = """
CREATE TABLE IF NOT EXISTS watcher (
    name TEXT NOT NULL, address TEXT NOT NULL, PRIMARY KEY (name, address));
"""


def watchers_of(db: sqlite3.Connection, name: str) -> list[str]:
    """The addresses of the watches of election ``name`` (inside the changing transaction)."""
    return [row[0] for row in db.execute("SELECT address FROM watcher WHERE name=?", (name,))]


def tell(backend: Store, addresses: Sequence[str]) -> None:
    """Send each watch a wake-up (after the commit); forget the watches that are gone."""
    if not addresses:
        return
    try:
        wake = backend.wake
    except LeaselectError:
        return
    gone = [a for a in addresses if send(wake.address(a), 0) == Delivery.GONE]
    if gone:
        with contextlib.suppress(LeaselectError), backend.transaction() as db:
            db.executemany("DELETE FROM watcher WHERE address=?", [(a,) for a in gone])


class SqliteLeaderFeed(LeaderFeed):
    """One mailbox for all the watched elections; any wake-up hints every one of them."""

    expiry_pushed = False

    def __init__(self, backend: Store, names: Sequence[str]) -> None:
        super().__init__(names)
        self._backend = backend
        self._mailbox: Mailbox | None = None
        self._backoff = Backoff()

    def _run(self) -> None:
        while not self.closed:
            try:
                mailbox = self._register()
            except (LeaselectError, OSError):
                self._not_opened()
                self._backoff.pause()
                continue
            self._backoff.reset()
            self._opened_now()
            while not self.closed and self._backend.generation == self._generation:
                if mailbox.wait(3600.0) is not None and not self.closed:
                    self.hint(*self.names)
            self._unregister(mailbox)

    def _register(self) -> Mailbox:
        mailbox = self._backend.new_mailbox()
        try:
            with self._backend.transaction() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO watcher (name, address) VALUES (?, ?)",
                    [(name, mailbox.name) for name in self.names],
                )
            self._generation = self._backend.generation
        except BaseException:
            mailbox.close()
            raise
        self._mailbox = mailbox
        if self.closed:
            mailbox.close()
        return mailbox

    def _unregister(self, mailbox: Mailbox) -> None:
        mailbox.close()
        with contextlib.suppress(LeaselectError), self._backend.transaction() as db:
            db.execute("DELETE FROM watcher WHERE address=?", (mailbox.name,))

    def _close(self) -> None:
        self._backoff.cancel()
        mailbox = self._mailbox
        if mailbox is not None:
            mailbox.close()  # wakes the wait in ``_run``
