"""What the embedded store's parts (candidacies, watches) use of the backend (``SqliteBackend``)
and of a session: the open file's transactions and wake-up directory, nothing of its API."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Protocol

from ...clock import Clock
from .wakes import MailboxWatcher
from .wakeup import Mailbox, WakeDir


class Store(Protocol):
    """The store file the backend has open (``SqliteBackend``)."""

    @property
    def clock(self) -> Clock:
        """The time of lease rows (the host's CLOCK_BOOTTIME, shared by its processes)."""
        ...

    @property
    def generation(self) -> int:
        """Bumped when a file is opened at the path, and when it is left."""
        ...

    @property
    def token_floor(self) -> int:
        """The highest token this backend has seen in any file."""
        ...

    @property
    def wakes(self) -> MailboxWatcher:
        """The parked waiters' mailboxes."""
        ...

    @property
    def wake(self) -> WakeDir:
        """The wake-up directory of the file we have open."""
        ...

    def transaction(self, busy: float | None = None) -> AbstractContextManager[sqlite3.Connection]:
        """A serialized write transaction."""
        ...

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction."""
        ...

    def saw_token(self, token: int) -> None:
        """Remember ``token``: no later token is lower or equal."""
        ...

    def new_mailbox(self) -> Mailbox:
        """A wake-up socket in the store's wake-up directory."""
        ...


class StoreSession(Protocol):
    """A session of leases of one TTL in the store (``SqliteSession``)."""

    @property
    def ttl(self) -> float: ...
    @property
    def backend(self) -> Store: ...
