"""``Elector``: the threaded driver of the election state machine (its public API).

The parts behind it, one module each: ``elector_state`` (what they share), ``elector_effects``
(callbacks, events), ``elector_tenure`` (the tenure on the watchdog), ``elector_campaign``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from . import exits, pool, shared
from .backend import Backend
from .callbacks import Callbacks
from .callbacks import OnElected as OnElected
from .callbacks import OnJeopardy as OnJeopardy
from .callbacks import OnLost as OnLost
from .callbacks import OnNewLeader as OnNewLeader
from .checks import check_backend, check_clock, check_flag, check_store_ttl, check_timeout
from .clock import SYSTEM_CLOCK, Clock
from .elector_campaign import ElectorCampaign
from .elector_state import CLOSED as CLOSED
from .elector_state import MAX_BACKOFF as MAX_BACKOFF
from .elector_state import OPEN
from .elector_state import RETRY_BACKOFF as RETRY_BACKOFF
from .elector_state import WAIT_TTLS as WAIT_TTLS
from .errors import ConfigError, ElectionTimeout, LeaselectError
from .health import Health, Snapshot, assess
from .lease import Leader, Lease
from .machine import Phase
from .names import validate_identity, validate_metadata, validate_name
from .parking import is_current
from .timing import DEFAULT_DRIFT, DEFAULT_TTL, Timing, timing_of


def open_electors() -> list[Elector]:
    """The process's electors not closed yet (what metrics read at a scrape)."""
    return [e for e in list(OPEN) if isinstance(e, Elector) and not e._closed]


class Elector(ElectorCampaign):
    """Campaigns for leadership of ``name`` and keeps the lease while it leads.

    ``is_leader`` reads the clock on every access: it turns False the instant the local deadline
    passes, even when the renewal thread is stuck. Callbacks run in order on a callback thread:
    ``on_elected(lease)`` then exactly one ``on_lost(lease, reason)`` per tenure. ``timing``
    (a ``Timing``) replaces ``ttl``, ``renew_interval``, ``drift`` and ``margin``. The rules for
    errors, callbacks, ``close()`` and exit are in docs/elector.md.
    """

    def __init__(
        self,
        backend_or_url: Backend | str,
        name: str,
        *,
        ttl: float = DEFAULT_TTL,
        identity: str | None = None,
        metadata: str | None = None,
        on_elected: OnElected | None = None,
        on_lost: OnLost | None = None,
        on_jeopardy: OnJeopardy | None = None,
        on_new_leader: OnNewLeader | None = None,
        clock: Clock | None = None,
        renew_interval: float | None = None,
        margin: float | None = None,
        drift: float = DEFAULT_DRIFT,
        release_on_exit: bool = True,
        timing: Timing | None = None,
    ) -> None:
        valid = (validate_name(name), validate_identity(identity), validate_metadata(metadata))
        timing = timing_of(timing, ttl, renew_interval, drift, margin)
        callbacks: Callbacks[None] = Callbacks(on_elected, on_lost, on_jeopardy, on_new_leader)
        check_clock(clock)
        check_flag("release_on_exit", release_on_exit)
        check_backend(backend_or_url)
        owns_backend = isinstance(backend_or_url, str)
        super().__init__(
            *valid,
            timing,
            callbacks,
            shared.borrow(backend_or_url) if isinstance(backend_or_url, str) else backend_or_url,
            owns_backend,
            clock or SYSTEM_CLOCK,
        )
        try:
            self.backend.check_ttl(self.timing.ttl)  # the adapter's own message comes first
            check_store_ttl(self.timing.ttl, type(self.backend).scheme, self.backend.max_ttl)
        except BaseException:
            self._close_backend()
            raise
        self.backend.attach(self)
        OPEN.add(self)
        if release_on_exit:
            exits.register(self)
        # the watchdog's and the callback pool's threads linger while this elector is open
        self._leave_threads = weakref.finalize(
            self, _call_each, (self._watchdog.enlist(), pool.pool.enlist())
        )

    @property
    def is_leader(self) -> bool:
        """True while this process leads and its local deadline has not passed."""
        return self._machine.is_leader(self._clock.now())

    @property
    def in_jeopardy(self) -> bool:
        """True while leading but renewals are failing: start no new leader work."""
        return self.is_leader and self._machine.phase is Phase.JEOPARDY

    def remaining(self) -> float:
        """Seconds until the local deadline of the current lease; 0.0 when not leading."""
        lease = self._machine.lease
        return 0.0 if lease is None else max(0.0, lease.deadline - self._clock.now())

    def health(self, callback_limit: float | None = None) -> Health:
        """Whether this elector does its job, with reasons if not (see leaselect.health).

        ``callback_limit``: seconds a callback may run before it counts as stuck (default: the
        TTL). Never blocks on the store; safe to call from any thread, a callback included.
        """
        limit = self.timing.ttl if callback_limit is None else float(callback_limit)
        if not limit > 0:
            raise ConfigError(f"callback_limit must be a positive number, got {callback_limit!r}")
        with self._lock:
            now = self._clock.now()
            lease = self._machine.lease
            leading = lease is not None and now < lease.deadline
            runner = self._thread
            dispatcher = self._dispatcher
            seen = Snapshot(
                closed=self._closed,
                wanted=self._want and not self._stop.is_set(),
                campaigning=bool(
                    (runner is not None and runner.is_alive())
                    or self._parked is not None
                    or self._watched
                    or self._resuming
                ),
                leading=leading,
                in_jeopardy=self._machine.phase is Phase.JEOPARDY,
                renewal_age=now - self._machine.anchor if leading else None,
                contact_age=None if self._last_contact is None else now - self._last_contact,
                callback=None if dispatcher is None else dispatcher.running(),
            )
        return assess(
            self.name, self.identity, seen, self.timing.ttl, self.timing.renew_every, limit
        )

    @property
    def lease(self) -> Lease | None:
        """The current lease, or None when not leading."""
        lease = self._machine.lease
        return lease if lease is not None and self._clock.now() < lease.deadline else None

    def leader(self) -> Leader | None:
        """Who leads ``name`` now, as the store reports it."""
        self._require_open()
        return self.backend.observe(self.name)

    def acquire(self, timeout: float | None = None) -> Lease | None:
        """Block until this process leads (one tenure); None if ``timeout`` seconds pass first.

        Raises the ``ConfigError`` of an adapter that refuses the settings (then stops
        campaigning), ``LeaselectError`` if the elector is closed or if called from one of its
        own callbacks (the campaign it would wait for starts only after the callback returns).
        """
        seconds = check_timeout(timeout)
        self._require_open()
        if self._dispatcher is not None and self._dispatcher.is_current():
            raise LeaselectError(
                f"acquire() of {self.name!r} cannot be called from its own on_elected/on_lost/"
                "on_jeopardy callback: the campaign starts only after the callback returns; "
                "call start() instead"
            )
        current = self.lease
        if current is not None:
            return current
        with self._lock:
            self._settled.clear()
            self._last_elected = None
            self._error = None
        started = self._begin(repeat=False)  # under start() the campaign stays repeating
        try:
            settled = self._wait_settled(seconds)
        except BaseException:  # KeyboardInterrupt, a failing clock: no campaign left behind
            if not started:
                self.release()
            raise
        if not settled:
            if not started:
                self.release()
            return None
        with self._lock:  # the lease won, even if another thread released it since
            lease, error, self._error = self._last_elected, self._error, None
        if lease is None and error is not None:
            if not self._repeat:  # under start() the campaign goes on
                self.release()
            raise error
        return lease

    def start(self) -> None:
        """Campaign in the background and campaign again after every lost tenure."""
        self._require_open()
        self._begin(repeat=True)

    def release(self) -> None:
        """Stop campaigning; if leading, step down (``on_lost`` with reason ``released``).

        A blocked ``acquire`` in another thread returns None. Does nothing once closed.
        """
        if self._finished:
            return
        with self._lifecycle:
            with self._lock:
                self._want = False
                self._unwatch()  # first: the watchdog is not poked for a tenure ending here
                effects = self._machine.released(self._clock.now())
                self._apply(effects)
                was_leading = bool(effects)
                candidacy, thread, keeper = self._candidacy, self._thread, self._keeper
                self._stop.set()
                self._settled.set()
                if self._dispatcher is not None:
                    self._dispatcher.wake()
            if was_leading and candidacy is not None:
                self._resign(candidacy)  # hand over first: a leading campaign thread does no I/O
            self.backend.campaign_slots.wake()  # a campaign waiting for a slot gives up
            if candidacy is not None:
                candidacy.interrupt()  # a parked wait resumes: a runner that exits at once
            with self._lock:
                runners = [r for r in {thread, self._thread} if r is not None]
            for runner in runners:
                if not is_current(runner):
                    runner.join(self.timing.ttl)
            if candidacy is not None and keeper is not None:
                # a campaign thread that outlived the join holds it again; no keeper thread
                # outlives the last elector it renewed for
                keeper.drop(candidacy, wait=self.timing.ttl)
            if candidacy is not None and not was_leading:
                self._resign(candidacy)

    def close(self) -> None:
        """Release, stop the callback thread and close the backend if this elector opened it.

        Afterwards ``acquire``, ``start`` and ``leader`` raise ``LeaselectError`` ("elector is
        closed"); ``release`` and ``close`` do nothing.
        """
        with self._lock:
            closing = self._closed
            self._closed = True
        if closing:  # another close (or the backend's) is under way: return when it is done
            if not self._in_own_callback():  # a callback the close waits for must return
                self._close_done.wait(3 * self.timing.ttl)
            return
        try:
            exits.unregister(self)
            self.release()
            if self._follower is not None:
                self._follower.stop(self.timing.ttl)
            self._stop_callbacks()
            self._finished = True
            self._leave_threads()
            # attached until now: a Backend.close() meanwhile waits for this close to finish
            self.backend.detach(self)
            self._close_backend()
        finally:
            self._close_finished()

    def __enter__(self) -> Lease:
        lease = self.acquire()
        if lease is None:
            raise ElectionTimeout(f"leadership of {self.name!r} ended before it was handed out")
        return lease

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return (
            f"Elector(name={self.name!r}, identity={self.identity!r}, "
            f"backend={type(self.backend).__name__}, phase={self._machine.phase.value})"
        )


def _call_each(calls: tuple[Callable[[], None], ...]) -> None:
    for call in calls:
        call()
