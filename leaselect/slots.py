"""A bound on the campaigns one backend runs at once.

A thousand electors started together would otherwise put a thousand campaigns' requests on one
connection at once, and on ZooKeeper the later ones time out in the client's queue before they
are sent (each attempt then fails and retries, and the storm feeds itself). A campaign takes a
slot for its attempt (a waiter gives it back before it waits); one whose elector is released
while it waits for a slot gives up at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

CAMPAIGN_SLOTS = 16  # campaign attempts one backend runs at once


class Slots:
    """A counting semaphore whose waiters can give up when woken."""

    def __init__(self, count: int = CAMPAIGN_SLOTS) -> None:
        self._free = count
        self._changed = threading.Condition()

    def take(self, give_up: Callable[[], bool]) -> bool:
        """Wait for a free slot and take it (True); False as soon as ``give_up()`` is True
        (checked at first and whenever ``wake`` is called)."""
        with self._changed:
            while self._free == 0:
                if give_up():
                    return False
                self._changed.wait()
            self._free -= 1
            return True

    def give(self) -> None:
        """Return a slot taken with ``take``."""
        with self._changed:
            self._free += 1
            self._changed.notify()

    def wake(self) -> None:
        """Make every waiter check its ``give_up`` again."""
        with self._changed:
            self._changed.notify_all()
