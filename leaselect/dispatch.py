"""Runs user callbacks on their own thread, in order, never on a renew or watchdog thread.

Whatever a callback raises, ``SystemExit`` and ``KeyboardInterrupt`` included, is logged with
its traceback and dropped: the thread runs every later callback, so each tenure still gets its
``on_elected`` and exactly one ``on_lost``. (Raised on this thread, ``SystemExit`` could never
have ended the process anyway: it would only have ended the thread, silently.)
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from collections.abc import Callable

from .signalmask import Mask

log = logging.getLogger("leaselect")


class Dispatcher:
    """A FIFO of callbacks run one at a time on a daemon thread."""

    def __init__(self, name: str, mask: Mask | None = None) -> None:
        """``mask``: the signal mask callbacks run with (that of the thread that made the
        elector; processes they start inherit it), whichever thread creates the dispatcher."""
        self._name = name
        self._mask = mask
        self._queue: queue.SimpleQueue[tuple[Callable[[], None], str] | None] = queue.SimpleQueue()
        self._pending = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, name=f"leaselect-callbacks-{name}", daemon=True
        )
        self._thread.start()

    def submit(self, callback: Callable[[], None], label: str = "a callback") -> None:
        """Queue ``callback`` (``label`` names it in the log if it raises); it runs after
        everything queued before it."""
        with self._changed:
            self._pending += 1
        self._queue.put((callback, label))

    def wait_idle(self, stop: threading.Event, timeout: float | None = None) -> bool:
        """Block until every queued callback has returned (True), or ``stop`` is set (then
        ``wake``) or ``timeout`` real seconds pass (False)."""
        if self.is_current():
            return False  # a callback waiting for itself would never return
        with self._changed:
            self._changed.wait_for(lambda: self._pending == 0 or stop.is_set(), timeout)
            return self._pending == 0

    def is_current(self) -> bool:
        """True on the callback thread itself (inside a callback)."""
        return threading.current_thread() is self._thread

    def wake(self) -> None:
        """Make ``wait_idle`` re-check its ``stop`` event."""
        with self._changed:
            self._changed.notify_all()

    def stop(self, timeout: float | None = None) -> None:
        """Run what is queued, then end the thread (waits at most ``timeout``)."""
        self._queue.put(None)  # stop
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        if self._mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        while True:
            item = self._queue.get()
            if item is None:
                return
            callback, label = item
            try:
                callback()
            except BaseException:  # SystemExit too: later tenures still need their callbacks
                log.exception("election %r: %s raised; ignored", self._name, label)
            finally:
                with self._changed:
                    self._pending -= 1
                    self._changed.notify_all()
