"""An ``Elector``'s tenure as the watchdog follows it: begun by the campaign, ticked to its
end, then a thread campaigns on; and the end of every tenure when the backend closes."""

from __future__ import annotations

import threading
import time

from . import exits, pool
from .backend import Candidacy, Grant
from .deferred import later
from .elector_effects import ElectorEffects
from .elector_state import OPEN, RETRY_BACKOFF, log
from .parking import is_current
from .signalmask import start_quiet


class ElectorTenure(ElectorEffects):
    """A tenure's begin, ticks and end (on the watchdog thread: no I/O under the lock)."""

    def _begin_tenure(self, candidacy: Candidacy, grant: Grant) -> bool:
        with self._lock:
            if not self._wanted() or self.backend.closing:  # a closing backend begins no tenure
                return False
            effects = self._machine.elected(grant.token, grant.ttl, grant.anchor, self._clock.now())
            if effects:
                self._hold(candidacy)  # a release() whose join timed out may have dropped it
            self._apply(effects)
            self._tenure_request = self._requests
            if not effects:
                return False
            if self._keeper is not None:
                self._keeper.renew_by(grant.anchor + self.timing.renew_every)
            # the watchdog follows the tenure (from its first deadline: the machine was just
            # ticked); this thread only returns from here on
            self._watched = True
            first = self._machine.next_wakeup()
            self._watchdog.watch(self, float("-inf") if first is None else first)
            if is_current(self._thread):
                self._thread = None
            return True

    def _tick_tenure(self) -> float | None:
        """Tick the machine (on the watchdog thread, no I/O); when to tick again, or None once
        the tenure is over. Then a new campaign thread resigns, waits for ``on_lost`` to return
        and campaigns again, unless released."""
        with self._lock:
            if not self._watched:
                return None
            now = self._clock.now()
            self._apply(self._machine.tick(now))
            wake = self._machine.next_wakeup()
            if wake is not None:
                return wake
            self._watched = False
            candidacy = self._candidacy
            if self._stop.is_set() or candidacy is None:
                return None  # release() resigns and drops the keeper itself
            self._resuming = True
        later(lambda: self._start_resuming(candidacy))  # after every tenure due now has ended
        return None

    def _start_resuming(self, candidacy: Candidacy) -> None:
        """Start the thread that follows a tenure's end, unless released meanwhile."""
        with self._lock:
            if not self._resuming:
                return  # released: release() resigned and dropped the keeper itself
            thread = threading.Thread(
                target=self._resume,
                args=(candidacy,),
                name=f"leaselect-campaign-{self.name}",
                daemon=True,
            )
            try:
                start_quiet(thread)
            except Exception as exc:  # no thread to be had: the watchdog asks again soon
                log.error(
                    "campaign for %r cannot start a thread: %s", self.name, exc, extra=self._fields
                )
                self._resuming = False
                self._watched = True
                self._watchdog.watch(self, self._clock.now() + RETRY_BACKOFF)
                return
            self._resuming = False
            self._thread = thread

    def _resume(self, candidacy: Candidacy) -> None:
        """After a tenure: step down in the store, then campaign on (``_run`` first lets
        ``on_lost`` return)."""
        self._after_tenure(candidacy)
        pool.pool.serve_here(self._run(candidacy))

    def _after_tenure(self, candidacy: Candidacy) -> None:
        with self._lock:
            if not self._want:
                return
            if self._requests == self._tenure_request:  # an acquire since the loss stands
                self._want = self._repeat
        self._resign(candidacy)

    def _abandon_tenure(self, candidacy: Candidacy | None) -> None:
        """An exception inside a tenure ends it (released) before anything is retried."""
        with self._lock:
            effects = self._machine.released(self._clock.now())
            self._apply(effects)
            self._unwatch()
        if effects and candidacy is not None:
            self._resign(candidacy)

    def _backend_closing(self) -> float:
        """The backend closes: end the tenure now and stop campaigning; this elector is closed
        from now on. Returns until when ``_backend_closed`` waits for ``on_lost`` (the TTL)."""
        with self._lock:
            if self._closed:
                return 0.0
            self._closed = True
            self._want = False
            self._stop.set()
            self._closing_effects = self._machine.released(self._clock.now())
            self._apply(self._closing_effects)
            self._unwatch()
        exits.unregister(self)
        return time.monotonic() + self.timing.ttl

    def _backend_closed(self, until: float) -> None:
        """Once ``on_lost`` returned (or ``until``), step down in the store and stop."""
        with self._lock:
            effects, self._closing_effects = self._closing_effects, None
            dispatcher = self._dispatcher
        if effects is None:  # closed by the user meanwhile, or before the backend
            if not self._in_own_callback():  # the backend goes once that close is done
                self._close_done.wait(3 * self.timing.ttl)
            return
        try:
            if effects and dispatcher is not None:
                timeout = max(0.0, until - time.monotonic())
                dispatcher.wait_idle(threading.Event(), timeout=timeout)
            self.release()
            self._stop_callbacks()
            self._finished = True
            self._leave_threads()
        finally:
            self._close_finished()

    def _close_finished(self) -> None:
        """Let a ``close()`` waiting beside this one return: now, or (when this one ran in one
        of the elector's callbacks, which it could not wait for) once that callback returned."""
        OPEN.discard(self)
        own = self._own_dispatcher()
        if own is None:
            self._close_done.set()
        else:
            own.when_idle(self._close_done.set)
