"""Leader watches of the ZooKeeper backend: a child watch on each watched election's node.

The candidates of an election are the children of its node; the leader's node goes when it
resigns or its session expires, and a campaign adds one. A child watch (an exists watch while
the election's node does not exist yet) fires once per change; the watch is set again before
the watch reads the election (``wait`` re-arms what fired before it returns), so no change
falls between a read and the next watch. When kazoo reports the session lost, every watch is
set again on the new session and every election read again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from kazoo.client import KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from ...errors import LeaselectError
from ...leader_feed import LeaderFeed
from .connection import Connection


class ZooKeeperLeaderFeed(LeaderFeed):
    """Hints from child watches on the nodes of ``names``."""

    def __init__(self, conn: Connection, names: Sequence[str]) -> None:
        super().__init__(names)
        self._conn = conn
        root = conn.config.root
        self._nodes = {f"{root}/{name}": name for name in self.names}
        self._unarmed = set(self._nodes)  # nodes without a watch set
        self._lock = threading.Lock()
        self._started = False

    def wait(self, timeout: float) -> set[str]:
        if self._arm():
            return set(self.names)
        hints = self._wait_hints(timeout)
        self._arm()  # set what fired again before the caller reads
        return hints

    def _arm(self) -> bool:
        first = not self._started
        if first:
            self._started = True
            self._conn.on_change(self._on_state)
        with self._lock:
            nodes, self._unarmed = self._unarmed, set()
        failed = set()
        for node in nodes:
            if not self.closed and not self._watch(node):
                failed.add(node)
        if failed:
            with self._lock:
                self._unarmed |= failed
        return first

    def _watch(self, node: str) -> bool:
        """Set a watch on ``node``'s children (or on its creation); False if it failed."""
        timeout = self._conn.config.connect_timeout
        try:
            client = self._conn.client()
            try:
                client.get_children_async(node, watch=self._fired).get(timeout=timeout)
            except NoNodeError:
                if client.exists_async(node, watch=self._fired).get(timeout=timeout) is not None:
                    client.get_children_async(node, watch=self._fired).get(timeout=timeout)
        except (KazooException, KazooTimeoutError, LeaselectError, OSError):
            return False  # set again once kazoo reconnects (``_on_state``)
        return True

    def _fired(self, event: Any) -> None:
        """A watch fired (kazoo's thread): set it again at the next wait, read the election."""
        name = self._nodes.get(getattr(event, "path", ""))
        if name is None or self.closed:
            return
        with self._lock:
            self._unarmed.add(event.path)
        self.hint(name)

    def _on_state(self, state: str) -> None:
        if self.closed:
            return
        if state == KazooState.LOST:  # the session's watches are gone with it
            with self._lock:
                self._unarmed = set(self._nodes)
        elif state == KazooState.CONNECTED:
            with self._lock:
                if not self._unarmed:
                    return
            self.hint(*self.names)  # watches that could not be set: set them, read again

    def _run(self) -> None:  # no thread: kazoo's thread delivers the watches
        raise NotImplementedError

    def _close(self) -> None:
        self._conn.off_change(self._on_state)
