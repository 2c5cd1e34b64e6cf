"""The nodes of a ZooKeeper session's candidacies, below the keep-alive (``session``).

The session owns the nodes its candidacies gave up: they are deleted as soon as the connection
allows, whether or not a campaign thread still runs, and ``observe`` skips them. It also
remembers whether new elections are being made (their node missing at a first registration).
"""

from __future__ import annotations

import threading
from typing import Any

from kazoo.exceptions import NoNodeError

from .connection import Connection
from .proof import ProvingSession


class DiscardingSession(ProvingSession):
    """A session that deletes the nodes its candidacies gave up (module docstring)."""

    def __init__(self, conn: Connection, ttl: float) -> None:
        super().__init__(conn, ttl)
        self._garbage: dict[str, int] = {}  # path of a node given up -> the session that owns it
        self._garbage_lock = threading.Lock()
        self._deleting: set[str] = set()  # discarded paths whose delete is in flight
        self._garbage_gone = threading.Condition(self._garbage_lock)  # a discarded node went
        # the last first registration found its election's node missing: the next ones send
        # their election's node ahead of their own (candidacy._register)
        self.new_elections = False

    def discard(self, path: str, owner: int) -> None:
        """Delete ``path`` (a node of session ``owner`` we no longer want) as soon as we can.

        While connected, waits for the delete (up to a request timeout), so that once a
        ``release()`` returns the store no longer names this process; while suspended it
        returns at once and the next CONNECTED deletes it; while the backend closes it sends
        nothing (closing the session deletes every node of ours at once)."""
        with self._garbage_lock:
            self._garbage[path] = owner
        if self.closing:
            return  # the session's close deletes it with every other node of ours
        self.collect()
        if self.conn.session_id() != owner:
            return
        with self._garbage_gone:
            self._garbage_gone.wait_for(lambda: path not in self._garbage, self.request_timeout)

    def discarded(self, path: str) -> bool:
        with self._garbage_lock:
            return path in self._garbage

    def collect(self) -> None:
        """Send a delete for every discarded node of the current session that has none in
        flight (non-blocking). Once per node: 50 resigns at once sent 50 deletes each before."""
        sid, client = self.conn.session_id(), self.conn.current()
        if sid is None or client is None:
            return  # suspended: the next CONNECTED collects
        with self._garbage_lock:
            for path, owner in list(self._garbage.items()):
                if owner != sid:  # that session is gone, and its ephemeral nodes with it
                    del self._garbage[path]
            paths = [path for path in self._garbage if path not in self._deleting]
            self._deleting.update(paths)
        for path in paths:
            try:
                client.delete_async(path).rawlink(lambda done, p=path: self._deleted(p, done))
            except Exception:  # the connection dropped: the next CONNECTED sends it again
                with self._garbage_lock:
                    self._deleting.discard(path)

    def _deleted(self, path: str, done: Any) -> None:
        try:
            done.get_nowait()
        except NoNodeError:
            pass
        except Exception:  # the connection dropped: the next CONNECTED sends it again
            with self._garbage_lock:
                self._deleting.discard(path)
            return
        with self._garbage_lock:
            self._garbage.pop(path, None)
            self._deleting.discard(path)
            self._garbage_gone.notify_all()

    def _reconnected(self) -> bool:
        """A new connection: the deletes sent on the old one are sent again by the next
        ``collect``. Whether any node given up waits for its delete."""
        with self._garbage_lock:
            self._deleting.clear()
            return bool(self._garbage)
