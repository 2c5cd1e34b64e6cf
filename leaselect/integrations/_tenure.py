"""One tenure as leader-only job runners see it: its stop signal, pause state and running jobs."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..clock import Clock
from ..lease import Lease


@dataclass(frozen=True)
class JobContext:
    """What a job run by the leader can see: the lease, the fire time and the stop signal."""

    lease: Lease
    fire_time: datetime
    stop: threading.Event


CURRENT: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "leaselect_job", default=None
)


class Tenure:
    """Paused at jeopardy (``stop`` set), resumed at recovery (a fresh ``stop``), ended at loss.

    Changed only from the elector's own path (``Elector._observe``): these methods never block.
    """

    def __init__(self, lease: Lease, started: float) -> None:
        self.lease, self.started, self.name = lease, started, lease.name
        self.stop = threading.Event()
        self.paused = False
        self.ended = False
        self.running = 0
        self._changed = threading.Condition()
        self._cancellers: set[Callable[[], None]] = set()

    def began_by(self, fire_time: datetime, clock: Clock) -> bool:
        """Whether the tenure began no later than ``fire_time`` (wall clock mapped to ``clock``)."""
        now = clock.now()
        return fire_time.timestamp() - (time.time() - now) >= self.started

    def pause(self) -> None:
        """Jeopardy or shutdown: admit nothing, tell running jobs to stop."""
        with self._changed:
            self.paused = True
            self.stop.set()

    def resume(self) -> None:
        """Renewals recovered: admit again; later jobs get a fresh ``stop``."""
        with self._changed:
            if not self.ended:
                self.stop = threading.Event()
                self.paused = False

    def end(self) -> None:
        """The tenure is over: stop and cancel every running job."""
        with self._changed:
            self.ended = self.paused = True
            self.stop.set()
            cancellers = list(self._cancellers)
        for cancel in cancellers:
            cancel()

    def enter(self, cancel: Callable[[], None] | None = None) -> threading.Event:
        """A job starts; ``cancel`` is called if the tenure ends while it runs. Its stop event."""
        with self._changed:
            self.running += 1
            if cancel is not None:
                self._cancellers.add(cancel)
            stop, ended = self.stop, self.ended
        if ended and cancel is not None:
            cancel()
        return stop

    def leave(self, cancel: Callable[[], None] | None = None) -> None:
        """A job returned."""
        with self._changed:
            self.running -= 1
            if cancel is not None:
                self._cancellers.discard(cancel)
            self._changed.notify_all()

    def wait_idle(self, clock: Clock) -> bool:
        """Wait until no job runs or the local deadline passes; True if none runs."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self.running == 0, max(0.0, self.lease.deadline - clock.now())
            )
