"""Waiting without a thread: a waiter's wait is parked with its store's adapter.

An adapter that can (``Candidacy.park``) calls back when the store reports a change worth a new
campaign, or on ``interrupt``; the watchdog calls back at the wait's time limit (the holder's
expiry, or the safety net). Either way the campaign goes on as a job on the process's thread
pool (a ``Runner``), so a thousand waiters hold no thread while nothing changes. Exactly one of
the two call-backs resumes a parked wait: the elector forgets it under its lock first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .backend import Candidacy
from .clock import Clock


class Runner:
    """A campaign loop run as a pool job, joinable like the thread it stands for."""

    def __init__(self, clock: Clock) -> None:
        self.done = threading.Event()
        self.thread: threading.Thread | None = None  # the pool thread, once the job runs
        self._clock = clock

    def is_alive(self) -> bool:
        return not self.done.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._clock.wait(self.done, timeout)


class Parked:
    """One parked wait of ``candidacy``: ``resume`` (the adapter) or the watchdog's tick (the
    time limit) hands it to ``resumed(parked, by_timer)``."""

    def __init__(self, candidacy: Candidacy, resumed: Callable[[Parked, bool], None]) -> None:
        self.candidacy = candidacy
        self._resumed = resumed

    def resume(self) -> None:
        self._resumed(self, False)

    def _tick_tenure(self) -> float | None:
        """The watchdog's call at the time limit (the watched-item protocol): resume, once."""
        self._resumed(self, True)
        return None


def is_current(runner: threading.Thread | Runner | None) -> bool:
    """Whether the calling thread is ``runner`` (a campaign thread, or a pool job's thread)."""
    me = threading.current_thread()
    return runner is me or (isinstance(runner, Runner) and runner.thread is me)
