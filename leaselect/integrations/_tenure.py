"""One tenure as the APScheduler integration sees it: stop signal, pause state, running jobs."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..clock import Clock
from ..lease import Lease
from ..tenure import Tenure
from ..timing import Timing


@dataclass(frozen=True)
class JobContext:
    """What a job run by the leader can see: the lease, the fire time and the stop signal."""

    lease: Lease
    fire_time: datetime
    stop: threading.Event


CURRENT: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "leaselect_job", default=None
)


class JobTenure(Tenure):
    """A ``Tenure`` with jobs: paused at jeopardy (``stop`` set), resumed at recovery (a fresh
    ``stop``), ended at loss; closed at shutdown (paused for good).

    Changed only from the elector's own path (``Elector._observe``) and ``shutdown``: these
    methods never block. ``min_left`` is the time a lease must have left for a job to start:
    ``usable lease - 1.5 x renew interval``, i.e. the last renewal is not overdue (the instant
    the elector enters jeopardy), judged on the clock so a late watchdog cannot widen it.
    """

    def __init__(
        self, lease: Lease, clock: Clock, started: float, timing: Timing | None = None
    ) -> None:
        super().__init__(lease, clock)  # no grace: jobs are stopped at jeopardy and at the end
        self.started = started
        self._timing = timing
        self.stop = threading.Event()
        self.paused = False
        self.ended = False
        self.closed = False
        self.running = 0
        self.threads = 0  # running jobs in threads (the others are tasks in an event loop)
        self._changed = threading.Condition()
        self._cancellers: set[Callable[[], None]] = set()
        self._wakers: set[Callable[[], None]] = set()

    def began_by(self, fire_time: datetime) -> bool:
        """Whether the tenure began no later than ``fire_time`` (wall clock mapped to ``clock``)."""
        now = self.clock.now()
        return fire_time.timestamp() - (time.time() - now) >= self.started

    def pause(self) -> None:
        """Jeopardy: admit nothing, tell running jobs to stop."""
        with self._changed:
            self.paused = True
            self.stop.set()
            self._changed.notify_all()

    def close(self) -> None:
        """Shutdown: paused for good; claimed fire times waiting for recovery are dropped."""
        with self._changed:
            self.closed = True
        self.pause()

    def resume(self) -> None:
        """Renewals recovered: admit again; later jobs get a fresh ``stop``."""
        with self._changed:
            if not self.ended and not self.closed:
                self.stop = threading.Event()
                self.paused = False
            self._changed.notify_all()

    def end(self) -> None:
        """The tenure is over: stop and cancel every running job, wake every waiting claim."""
        with self._changed:
            self.ended = self.paused = True
            self.stop.set()
            self._changed.notify_all()
            callbacks = [*self._cancellers, *self._wakers]
        for callback in callbacks:
            callback()

    def wake_at_end(self, waker: Callable[[], None], add: bool = True) -> None:
        """Call ``waker`` when the tenure ends (``add=False`` removes it)."""
        with self._changed:
            if add:
                self._wakers.add(waker)
            else:
                self._wakers.discard(waker)
            ended = self.ended
        if ended and add:
            waker()

    @property
    def min_left(self) -> float:
        """Time the lease must have left for a job to start (see the class docstring)."""
        if self._timing is None:
            return 0.0
        timing = self._timing
        return max(0.0, timing.usable(self.lease.ttl) - 1.5 * timing.renew_every)

    def live(self) -> bool:
        """Whether a job may start now: not ended, closed or paused, the renewal not overdue."""
        left = self.left()
        return not self.paused and left > self.min_left and left > 0

    def wait_live(self) -> bool:
        """Block while in jeopardy (bounded by the deadline); True once ``live``, False if the
        tenure ended, closed or reached its deadline first. Woken by the elector's own path."""
        with self._changed:
            while True:
                left = self.left()
                if self.ended or self.closed or left <= 0:
                    return False
                if self.live():
                    return True
                self._changed.wait(left)

    def try_enter(self, cancel: Callable[[], None] | None = None) -> threading.Event | None:
        """A job starts now if the tenure is ``live`` (checked and counted atomically): its
        stop event; None if it may not start. ``cancel`` is called if the tenure ends while
        the job runs."""
        with self._changed:
            if self.ended or self.closed or not self.live():
                return None
            self.running += 1
            if cancel is not None:
                self._cancellers.add(cancel)
            else:
                self.threads += 1
            return self.stop

    def leave(self, cancel: Callable[[], None] | None = None) -> None:
        """A job returned."""
        with self._changed:
            self.running -= 1
            if cancel is not None:
                self._cancellers.discard(cancel)
            else:
                self.threads -= 1
            self._changed.notify_all()

    def wait_idle(self, threads_only: bool = False) -> bool:
        """Wait until no job (no thread job if ``threads_only``) runs or the local deadline
        passes; True if none runs."""
        with self._changed:
            return self._changed.wait_for(
                lambda: (self.threads if threads_only else self.running) == 0,
                max(0.0, self.left()),
            )
