"""Runs user callbacks in order, never on a renew or watchdog thread.

Each elector has a ``Dispatcher``: a FIFO of its callbacks, run one at a time. When a callback
is queued and none is running, a thread of the process-wide pool (see pool) runs the queue
until it is empty and goes back to the pool. A callback that blocks holds only its own
elector's queue, and a process with 1,000 idle electors has at most ``pool.KEEP_IDLE`` idle
callback threads.

Whatever a callback raises, ``SystemExit`` and ``KeyboardInterrupt`` included, is logged with
its traceback and dropped: the next callback still runs, so each tenure still gets its
``on_elected`` and exactly one ``on_lost``. (Raised on a worker, ``SystemExit`` could never
have ended the process anyway: it would only have ended the thread, silently.)
"""

from __future__ import annotations

import collections
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from . import pool
from .deferred import later
from .signalmask import Mask

log = logging.getLogger("leaselect")


class Dispatcher:
    """One elector's FIFO of callbacks, run one at a time."""

    def __init__(
        self, name: str, mask: Mask | None = None, fields: dict[str, Any] | None = None
    ) -> None:
        """``mask``: the signal mask callbacks run with (that of the thread that made the
        elector; processes they start inherit it), whichever thread queues them. ``fields``:
        the ``extra`` of its log records (see leaselect.logfields)."""
        self._name = name
        self._fields = fields or {"election": name}
        self._mask = mask
        self._queue: collections.deque[tuple[Callable[[], None], str]] = collections.deque()
        self._pending = 0  # queued or running
        self._changed = threading.Condition()
        self._scheduled = False  # a thread runs (or is about to run) the queue
        self._stopped = False
        self._worker: threading.Thread | None = None  # the thread running our callbacks now
        self._on_idle: list[Callable[[], None]] = []  # called once the queue is next empty
        self._running: tuple[str, float] | None = None  # (label, time.monotonic() it began)

    def submit(self, callback: Callable[[], None], label: str = "a callback") -> None:
        """Queue ``callback`` (``label`` names it in the log if it raises); it runs after
        everything queued before it. Ignored once stopped."""
        with self._changed:
            if self._stopped:
                return
            self._pending += 1
            self._queue.append((callback, label))
            if self._scheduled:
                return
            self._scheduled = True
        later(self._start, urgent=True)  # at the end of the watchdog's batch, if any

    def _start(self) -> None:
        """Hand this burst of callbacks to a pool thread (none while nothing is queued)."""
        try:
            pool.pool.run(self._run_queue)
        except Exception as exc:  # the callbacks stay queued: the next submit tries again
            log.error(
                "election %r: cannot start a callback thread: %s",
                self._name,
                exc,
                extra=self._fields,
            )
            with self._changed:
                self._scheduled = False

    def wait_idle(self, stop: threading.Event, timeout: float | None = None) -> bool:
        """Block until every queued callback has returned (True), or ``stop`` is set (then
        ``wake``) or ``timeout`` real seconds pass (False)."""
        if self.is_current():
            return False  # a callback waiting for itself would never return
        with self._changed:
            self._changed.wait_for(lambda: self._pending == 0 or stop.is_set(), timeout)
            return self._pending == 0

    def is_current(self) -> bool:
        """True on the thread running one of this dispatcher's callbacks (inside a callback)."""
        return self._worker is threading.current_thread()

    def when_idle(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` once no callback is queued or running: now, or on the thread that ran
        the last one, after it returned."""
        with self._changed:
            if self._scheduled:
                self._on_idle.append(hook)
                return
        hook()

    def running(self) -> tuple[str, float] | None:
        """The callback running now: its label and for how many seconds it has run."""
        current = self._running
        return None if current is None else (current[0], time.monotonic() - current[1])

    def wake(self) -> None:
        """Make ``wait_idle`` re-check its ``stop`` event."""
        with self._changed:
            self._changed.notify_all()

    def stop(self, timeout: float | None = None) -> None:
        """Run what is queued, then take nothing more; waits at most ``timeout`` for the
        thread running them to be done with them, unless called from one of its callbacks."""
        with self._changed:
            self._stopped = True
        if self.is_current():
            return
        with self._changed:
            self._changed.wait_for(lambda: not self._scheduled, timeout)

    def _run_queue(self) -> None:
        """Run callbacks until the queue is empty (on a pool thread)."""
        if self._mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        with self._changed:
            self._worker = threading.current_thread()
        while True:
            with self._changed:
                if not self._queue:
                    self._worker = None
                    self._scheduled = False
                    self._changed.notify_all()
                    hooks, self._on_idle = self._on_idle, []
                    break
                callback, label = self._queue.popleft()
                self._running = (label, time.monotonic())
            try:
                callback()
            except BaseException:  # SystemExit too: later tenures still need their callbacks
                log.exception(
                    "election %r: %s raised; ignored", self._name, label, extra=self._fields
                )
            finally:
                with self._changed:
                    self._running = None
                    self._pending -= 1
                    self._changed.notify_all()
        for hook in hooks:
            hook()
