"""What a store adapter gives a leader watch: pushed hints that a leader may have changed.

A feed is *armed* before the watch reads the store, so a change between the read and the next
wait is never missed: the store's own push mechanism (a ZooKeeper watch, an etcd watch stream,
a Redis channel the adapter's scripts publish on, the embedded store's wake-up sockets) marks
the election as hinted, and the watch reads it again. A hint may be spurious; the read decides.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from .errors import LeaselectError
from .signalmask import start_quiet

RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # a broken push channel is reopened with this backoff
OPEN_WAIT = 5.0  # the first wait gives the channel this long to open before the first read


class LeaderFeed(ABC):
    """Hints for the elections ``names``; one thread waits at a time, any thread interrupts.

    ``expiry_pushed``: False where a lease's silent expiry sends nothing (Redis, the embedded
    store); the watch then reads again when the lease it saw would expire, never sooner.
    """

    expiry_pushed: ClassVar[bool] = True

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(dict.fromkeys(names))
        self._hints: set[str] = set()
        self._hinted = threading.Condition()
        self._interrupted = False
        self._opened = threading.Event()
        self._thread: threading.Thread | None = None
        self.fatal: LeaselectError | None = None  # the store refuses the channel for good
        self.closed = False

    def wait(self, timeout: float) -> set[str]:
        """Block up to ``timeout`` seconds for hints; the names hinted (empty after a timeout or
        an interrupt). Every name right after the push channel was (re)opened: whatever
        happened while it was not open is read again. A broken channel is reopened with
        backoff (a store that cannot be read shows in the watch's reads); only ``fatal``, a
        refusal retrying cannot fix, is raised."""
        if self.fatal is not None:
            raise self.fatal
        if self._arm():
            return set(self.names)
        return self._wait_hints(timeout)

    def _wait_hints(self, timeout: float) -> set[str]:
        with self._hinted:
            self._hinted.wait_for(
                lambda: self._hints or self._interrupted or self.fatal, max(timeout, 0.0)
            )
            hints, self._hints, self._interrupted = self._hints, set(), False
        if self.fatal is not None:
            raise self.fatal
        return hints

    def _refused(self, error: LeaselectError) -> None:
        """The store refuses the channel for good: the next (or current) wait raises it."""
        with self._hinted:
            self.fatal = error
            self._opened.set()
            self._hinted.notify_all()

    def hint(self, *names: str) -> None:
        """Mark ``names`` to be read again (any thread; what the store's pushes call)."""
        with self._hinted:
            self._hints.update(names)
            self._hinted.notify_all()

    def interrupt(self) -> None:
        """Make the current (or the next) ``wait`` return now."""
        with self._hinted:
            self._interrupted = True
            self._hinted.notify_all()
        self._opened.set()  # a first wait still waiting for the channel returns too

    def close(self) -> None:
        """Stop listening; release the connection or sockets it holds; join the feed's thread
        (idempotent)."""
        self.closed = True
        self.interrupt()  # also releases a first wait still waiting for the channel
        self._close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(OPEN_WAIT)

    def _arm(self) -> bool:
        """At the first wait, start the thread that listens (``_run``) and give it ``OPEN_WAIT``
        seconds to open the channel; True then (read every name), False afterwards."""
        if self._thread is not None or self.closed:
            return False
        self._thread = threading.Thread(target=self._run, name="leaselect-leader-feed", daemon=True)
        start_quiet(self._thread)
        self._opened.wait(OPEN_WAIT)
        with self._hinted:
            self._opened.set()  # from now on every opening hints every name
        return True

    def _opened_now(self) -> None:
        """Called by ``_run`` each time the channel opens: every name is read again, unless
        this is the first opening and the first wait has not read yet (it reads them all)."""
        with self._hinted:
            first = not self._opened.is_set()
            self._opened.set()
        if not first:
            self.hint(*self.names)

    def _not_opened(self) -> None:
        """Called by ``_run`` when an attempt to open the channel failed: the first wait
        reads now (and so shows the store's trouble) instead of waiting ``OPEN_WAIT``."""
        with self._hinted:
            self._opened.set()

    @abstractmethod
    def _run(self) -> None:
        """Until ``closed``: open the channel (``_opened_now``), ``hint`` what it pushes,
        reopen it with backoff when it breaks."""

    @abstractmethod
    def _close(self) -> None:
        """Make ``_run`` return soon; release what the feed holds."""


class Backoff:
    """Pauses between attempts to reopen a push channel, cut short by ``close``."""

    def __init__(self) -> None:
        self._delay = RETRY_FIRST
        self._stop = threading.Event()

    def reset(self) -> None:
        self._delay = RETRY_FIRST

    def pause(self) -> None:
        self._stop.wait(self._delay)
        self._delay = min(self._delay * 2, RETRY_MAX)

    def cancel(self) -> None:
        self._stop.set()
