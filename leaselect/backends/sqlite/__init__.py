"""The embedded adapter (``sqlite://``): the backend in ``backend``, the clock domain of its
lease times in ``hostclock`` and its wake-up sockets in ``wakeup``."""

from .backend import SqliteBackend, SqliteSession
from .candidacy import SqliteCandidacy

__all__ = ["SqliteBackend", "SqliteCandidacy", "SqliteSession"]
