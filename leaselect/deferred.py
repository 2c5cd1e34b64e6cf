"""Thread starts the watchdog hands off, so that it is free for the next deadline.

Starting a thread costs a context switch (about 1 ms on a loaded machine): with one start per
tick, the 200th of 200 tenures sharing a deadline ended 50 ms late, and a tenure due 1 ms after
a group of 289 ended 80 ms late while the watchdog was still starting the group's threads.
Inside ``batch()``, ``later(fn)`` queues ``fn``; at the end of the block the queued work goes to
one starter thread (alive while it has work), callback threads first (``on_lost`` is due at the
deadline), the threads that campaign on after them. Outside a batch, ``fn`` runs at once.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator

from .signalmask import start_quiet

log = logging.getLogger("leaselect")

Work = Callable[[], None]


class _Starter:
    """Runs handed-off work on its own thread, urgent work first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._urgent: collections.deque[Work] = collections.deque()
        self._rest: collections.deque[Work] = collections.deque()
        self._running = False

    def hand_off(self, urgent: list[Work], rest: list[Work]) -> None:
        with self._lock:
            self._urgent.extend(urgent)
            self._rest.extend(rest)
            if self._running or not (self._urgent or self._rest):
                return
            self._running = True
        try:
            start_quiet(threading.Thread(target=self._run, name="leaselect-starter", daemon=True))
        except Exception:  # no thread to be had: do the work here, late rather than never
            with self._lock:
                self._running = False
            self._run()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._urgent:
                    work = self._urgent.popleft()
                elif self._rest:
                    work = self._rest.popleft()
                else:
                    self._running = False
                    return
            try:
                work()
            except Exception:  # one failure must not keep the others from starting
                log.exception("leaselect: a deferred start failed")


_starter = _Starter()
_local = threading.local()


def _new_starter_in_child() -> None:
    """The parent's starter thread does not run in a forked child (its lock may be held)."""
    global _starter
    _starter = _Starter()


os.register_at_fork(after_in_child=_new_starter_in_child)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Hand what ``later`` queues inside the block to the starter at its end."""
    urgent: list[Work] = []
    rest: list[Work] = []
    _local.queued = (urgent, rest)
    try:
        yield
    finally:
        _local.queued = None
        if urgent or rest:
            _starter.hand_off(urgent, rest)


def later(fn: Work, urgent: bool = False) -> None:
    """``fn()`` on the starter after the current ``batch()`` on this thread (``urgent``: before
    the others), or now if there is none."""
    queued: tuple[list[Work], list[Work]] | None = getattr(_local, "queued", None)
    if queued is None:
        fn()
    else:
        queued[0 if urgent else 1].append(fn)
