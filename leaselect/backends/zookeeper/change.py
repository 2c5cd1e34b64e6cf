"""What ends a ZooKeeper candidacy's wait: a change worth a campaign.

A watch that fired (the predecessor's node), a connection state change or an interrupt ends the
wait of the thread blocked in ``wait``, or calls the ``resume`` of a parked wait instead of
waking a thread. An interrupt no wait took yet ends the next campaign's wait at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Change:
    """The change signal of one candidacy (module docstring)."""

    def __init__(self) -> None:
        self._changed = threading.Event()
        self._interrupted = False
        self._resume: Callable[[], None] | None = None  # of a parked wait (see park)
        self._resume_lock = threading.Lock()

    def rearm(self) -> None:
        """A campaign starts: only a change from now on (or an interrupt not taken yet) ends
        its wait."""
        self._changed.clear()
        if self._interrupted:
            self._changed.set()

    def again(self) -> None:
        """The campaign should run again right away: its wait ends at once."""
        self._changed.set()

    def wait(self, timeout: float) -> None:
        self._changed.wait(timeout)
        self._interrupted = False

    def park(self, timeout: float, resume: Callable[[], None]) -> float:
        """The watches that end a ``wait`` call ``resume`` instead of waking a thread."""
        with self._resume_lock:
            if not self._changed.is_set():
                self._resume = resume
                return timeout
        self._interrupted = False
        return 0.0

    def unpark(self) -> None:
        with self._resume_lock:
            self._resume = None
        self._interrupted = False

    def interrupt(self) -> None:
        self._interrupted = True
        self.fire()

    def fire(self) -> None:
        """Something worth a campaign happened: end the wait (or resume the parked one)."""
        self._changed.set()
        with self._resume_lock:
            resume, self._resume = self._resume, None
        if resume is not None:
            self._interrupted = False
            resume()
