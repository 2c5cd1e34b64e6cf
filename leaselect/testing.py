"""Test helpers shipped with the package: a clock that only moves when told to."""

from __future__ import annotations

import threading


class FakeClock:
    """A manually advanced clock; ``wait`` blocks until the event is set or time is advanced."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._changed = threading.Condition()
        self._waiters = 0

    def now(self) -> float:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every waiter whose timeout has passed."""
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        with self._changed:
            until = None if timeout is None else self._now + timeout
            self._waiters += 1
            try:
                while not event.is_set() and (until is None or self._now < until):
                    self._changed.wait(0.005)
                return event.is_set()
            finally:
                self._waiters -= 1

    @property
    def waiters(self) -> int:
        """How many threads are blocked in ``wait`` right now."""
        with self._changed:
            return self._waiters
