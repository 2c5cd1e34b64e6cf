"""``Elector``: the threaded driver of the election state machine."""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable

from . import events, exits, pool, shared
from .backend import Backend, Candidacy, Grant, Renewal, Waiting
from .callbacks import Callbacks, OnElected, OnJeopardy, OnLost, OnNewLeader
from .checks import check_clock, check_flag, check_store_ttl, check_timeout
from .clock import SYSTEM_CLOCK, Clock
from .deferred import later
from .dispatch import Dispatcher
from .errors import ConfigError, ElectionTimeout, LeaselectError
from .health import Health, Snapshot, assess
from .keeper import Holder, Keeper, keeper_for
from .lease import Leader, Lease
from .logfields import election_fields, with_fields
from .machine import Effect, Elected, ElectionMachine, Jeopardy, Lost, Phase, Recovered
from .names import validate_identity, validate_metadata, validate_name
from .parking import Parked, Runner, is_current
from .signalmask import current_mask, start_quiet
from .timing import DEFAULT_DRIFT, DEFAULT_TTL, Timing, timing_of
from .urls import redact
from .watchdog import watchdog_for
from .watching import Follower

log = logging.getLogger("leaselect")

RETRY_BACKOFF = 0.1  # first pause after a failed campaign; doubles up to MAX_BACKOFF
MAX_BACKOFF = 5.0
CLOSED = "elector is closed"
WAIT_SLICE = 86400.0  # acquire() waits in slices of a day: any finite timeout works
WAIT_TTLS = 10  # a waiter campaigns again after this many TTLs with no news (a safety net only)


_PARKED: list[pool.Job] = []  # _campaign_once: the wait was parked, the thread may go
_OPEN: weakref.WeakSet[Elector] = weakref.WeakSet()  # see open_electors


def open_electors() -> list[Elector]:
    """The process's electors not closed yet (what metrics read at a scrape)."""
    return [elector for elector in list(_OPEN) if not elector._closed]


class _Refused(Exception):
    """The campaign won with a grant the core refuses (a token not above every one seen)."""


class Elector:
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
        self.name = validate_name(name)
        self.identity = validate_identity(identity)
        self.metadata = validate_metadata(metadata)
        self.timing = timing_of(timing, ttl, renew_interval, drift, margin)
        self._callbacks: Callbacks[None] = Callbacks(
            on_elected, on_lost, on_jeopardy, on_new_leader
        )
        check_clock(clock)
        check_flag("release_on_exit", release_on_exit)
        if not isinstance(backend_or_url, (str, Backend)):
            kind = type(backend_or_url).__name__
            raise ConfigError(f"Elector needs a Backend or a store URL string, got {kind}")
        if isinstance(backend_or_url, Backend) and backend_or_url.closing:
            raise LeaselectError(f"backend is closed: {type(backend_or_url).__name__}")
        self._owns_backend = isinstance(backend_or_url, str)
        self.backend = (
            shared.borrow(backend_or_url) if isinstance(backend_or_url, str) else backend_or_url
        )
        self._follower: Follower | None = None  # the leader watch behind on_new_leader
        self._clock: Clock = clock or SYSTEM_CLOCK
        self._machine = ElectionMachine(self.name, self.identity, self.timing)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._settled = threading.Event()  # elected, or released: what acquire waits for
        self._lifecycle = threading.Lock()  # serializes release() with starting a campaign
        self.lost = threading.Event()
        self._last_elected: Lease | None = None
        self._want = False
        self._repeat = False
        self._requests = 0  # campaigns asked for (acquire/start); a tenure ends only its own
        self._tenure_request = 0
        self._thread: threading.Thread | Runner | None = None  # the campaign thread, if any
        self._parked: Parked | None = None  # a wait parked with the adapter (no thread)
        self._watched = False  # a tenure the watchdog follows (no campaign thread meanwhile)
        self._resuming = False  # a tenure ended; the thread that campaigns on is about to start
        self._watchdog = watchdog_for(self._clock)
        self._candidacy: Candidacy | None = None
        self._keeper: Keeper | None = None
        self._dispatcher: Dispatcher | None = None
        self._user_mask = current_mask()  # callbacks run with it (see signalmask)
        self._callbacks_stopped = False
        self._closed = False
        self._close_done = threading.Event()  # the first close() (or the backend's) finished
        self._stopped_dispatcher: Dispatcher | None = None  # the callback queue close() stopped
        self._finished = False  # closed and released: release() has nothing left to do
        self._closing_effects: list[Effect] | None = None  # closed by its backend, not done
        self._error: ConfigError | None = None  # an adapter's ConfigError, for acquire()
        self._observers: list[Callable[[Effect], None]] = []  # see _observe
        self._last_contact: float | None = None  # the store's latest answer (see health)
        self._fields = election_fields(self.name, self.identity, type(self.backend).scheme)
        try:
            self.backend.check_ttl(self.timing.ttl)  # the adapter's own message comes first
            check_store_ttl(self.timing.ttl, type(self.backend).scheme, self.backend.max_ttl)
        except BaseException:
            self._close_backend()
            raise
        self.backend.attach(self)
        _OPEN.add(self)
        if release_on_exit:
            exits.register(self)
        # the watchdog's and the callback pool's threads linger while this elector is open
        self._leave_threads = weakref.finalize(
            self, _call_each, (self._watchdog.enlist(), pool.pool.enlist())
        )

    # -- public API ---------------------------------------------------------------------------

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

    def _wait_settled(self, seconds: float | None) -> bool:
        """Wait for ``_settled`` at most ``seconds``, in slices short enough for any platform's
        ``threading.TIMEOUT_MAX`` (a longer single wait raises ``OverflowError``)."""
        if seconds is None:
            return self._clock.wait(self._settled, None)
        end = self._clock.now() + seconds
        while True:
            remaining = end - self._clock.now()
            if self._clock.wait(self._settled, min(remaining, WAIT_SLICE)):
                return True
            if remaining <= WAIT_SLICE:
                return False

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

    def _close_finished(self) -> None:
        """Let a ``close()`` waiting beside this one return: now, or (when this one ran in one
        of the elector's callbacks, which it could not wait for) once that callback returned."""
        _OPEN.discard(self)
        own = self._own_dispatcher()
        if own is None:
            self._close_done.set()
        else:
            own.when_idle(self._close_done.set)

    def _in_own_callback(self) -> bool:
        return self._own_dispatcher() is not None

    def _own_dispatcher(self) -> Dispatcher | None:
        """The callback queue whose callback is running on this thread, if any."""
        for dispatcher in (self._dispatcher, self._stopped_dispatcher):
            if dispatcher is not None and dispatcher.is_current():
                return dispatcher
        return None

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

    def _require_open(self) -> None:
        if self._closed:
            raise LeaselectError(f"{CLOSED}: {self.name!r}")

    def _stop_callbacks(self) -> None:
        with self._lock:
            self._callbacks_stopped = True
            dispatcher, self._dispatcher = self._dispatcher, None
            self._stopped_dispatcher = dispatcher or self._stopped_dispatcher
        if dispatcher is not None:
            dispatcher.stop(timeout=self.timing.ttl)

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

    def _observe(self, observer: Callable[[Effect], None]) -> None:
        """Internal: call ``observer(effect)`` for every state change as it happens.

        It runs on the thread that made the change (the deadline watchdog, the renewal loop, a
        ``release`` caller), under the elector's lock and before any user callback is queued, so
        it must only set flags or events. Leader-work stoppers use it (never the callback thread).
        """
        self._observers.append(observer)

    # -- the campaign thread ----------------------------------------------------------------

    def _begin(self, repeat: bool) -> bool:
        """Campaign; True if a ``start()`` campaign was already on (it stays repeating)."""
        with self._lifecycle, self._lock:
            self._require_open()
            started = self._want and self._repeat and not self._stop.is_set()
            self._want, self._repeat = True, repeat or started
            self._requests += 1
            if self._last_contact is None:  # the store is asked from now on (see health)
                self._last_contact = self._clock.now()
            if self._callbacks.on_new_leader is not None and self._follower is None:
                self._follower = Follower(self.backend, self.name, self._new_leader)
            self._stop.clear()
            if self._watched or self._resuming:
                return started  # the tenure's end campaigns again (see _tick_tenure)
            if self._parked is not None:
                return started  # the parked wait campaigns again when it resumes
            if self._thread is not None and self._thread.is_alive():
                return started  # the running thread decides to exit only under the lock
            self._thread = threading.Thread(
                target=self._run_thread, name=f"leaselect-campaign-{self.name}", daemon=True
            )
            start_quiet(self._thread)
            return started

    def _run_thread(self, candidacy: Candidacy | None = None) -> None:
        """The campaign thread: once elected, it runs the ``on_elected`` its win queued, then
        serves as a pool thread (see pool.claimed)."""
        pool.pool.serve_here(self._run(candidacy))

    def _run_job(self, runner: Runner, candidacy: Candidacy) -> None:
        """A campaign resumed from a parked wait, as a pool job."""
        runner.thread = thread = threading.current_thread()
        thread.name = f"leaselect-campaign-{self.name}"
        try:
            won = self._run(candidacy)
        finally:
            runner.done.set()
        for job in won:
            job()

    def _run(self, candidacy: Candidacy | None = None) -> list[pool.Job]:
        """Campaign while wanted; any exception is logged and retried with capped backoff.
        Returns once elected (the watchdog follows the tenure: the callback jobs the win
        queued are returned for this thread to run), parked (the adapter resumes the wait
        without a thread) or no longer wanted."""
        self._await_callbacks()  # an earlier tenure's on_lost returns before a new one begins
        backoff = 0.0
        while self._continue_or_exit(candidacy):
            try:
                candidacy = self._ensure_candidacy()
                won = self._campaign_once(candidacy)
                if won is _PARKED:
                    self._exit_thread()  # unless the wait resumed already and a runner took over
                    return []
                if won is not None:
                    self._exit_thread()  # elected: the watchdog follows the tenure
                    return won
                backoff = 0.0
            except Exception as exc:
                self._abandon_tenure(candidacy)
                backoff = self._failed(exc, backoff)
                if self._wanted():  # an interrupt (a reconnect, a release) ends the pause
                    wakeup = self._stop if candidacy is None else candidacy.wakeup
                    self._clock.wait(wakeup, backoff)
        return []

    def _campaign_once(self, candidacy: Candidacy) -> list[pool.Job] | None:
        """One attempt; if it began a tenure, the callback jobs that queued for this thread
        to run (see pool.claimed); ``_PARKED`` if it parked its wait; else None."""
        candidacy.wakeup.clear()
        slots = self.backend.campaign_slots
        if not slots.take(lambda: not self._wanted()):
            return None  # released while waiting for a slot
        try:
            outcome = candidacy.campaign(self._clock.now())
        finally:
            slots.give()
        self._last_contact = self._clock.now()
        if isinstance(outcome, Waiting):
            if self._wanted():  # a release() that came before the candidacy could not interrupt
                parked = self._park(candidacy, outcome)
                if parked:
                    return _PARKED
                if parked is None:  # the adapter cannot park: wait on this thread
                    candidacy.wait(outcome, self.timing.ttl * WAIT_TTLS)
            return None
        with self._lock:
            highest = self._machine.highest_token
            fresh = self._machine.fresh_token(outcome.token)
        if not fresh:
            self._resign(candidacy)
            raise _Refused(
                f"the store granted token {outcome.token}, not above token {highest} seen "
                "before: resigned, campaigning again"
            )
        with pool.pool.claimed() as jobs:
            began = self._begin_tenure(candidacy, outcome)
        if began:
            return jobs
        for job in jobs:  # none expected: no tenure, no callback
            pool.pool.run(job)
        self._resign(candidacy)  # the grant was stale on arrival: renewals are failing
        self._clock.wait(self._stop, RETRY_BACKOFF)
        return None

    def _park(self, candidacy: Candidacy, outcome: Waiting) -> bool | None:
        """Park the wait with the adapter: True if parked (this thread may go), False if the
        wait is over already (campaign again now, on this thread), None if the adapter cannot
        park (wait on this thread)."""
        parked = Parked(candidacy, self._resume_parked)
        with self._lock:
            if not self._wanted():
                return False  # released meanwhile: this thread exits
            self._parked = parked
        try:
            after = candidacy.park(outcome, self.timing.ttl * WAIT_TTLS, parked.resume)
        except BaseException:
            self._unpark(parked)
            raise
        if after is None or after <= 0:
            if not self._unpark(parked):
                return True  # resumed meanwhile: a pool job campaigns on
            return None if after is None else False
        self._watchdog.watch(parked, self._clock.now() + after)
        if not self._unpark(parked, keep=True):
            self._watchdog.unwatch(parked)  # resumed before its timer was set: no timer left
        return True

    def _unpark(self, parked: Parked, keep: bool = False) -> bool:
        """Whether ``parked`` is still this elector's parked wait (not resumed); unless
        ``keep``, it no longer is afterwards."""
        with self._lock:
            current = self._parked is parked
            if current and not keep:
                self._parked = None
            return current

    def _resume_parked(self, parked: Parked, by_timer: bool) -> None:
        """A parked wait ends (the adapter's call, or the watchdog's at its time limit): the
        campaign goes on as a pool job. Only the first call for ``parked`` does anything."""
        with self._lock:
            if self._parked is not parked:
                return
            self._parked = None
            runner = Runner(self._clock)
            self._thread = runner
        if by_timer:
            parked.candidacy.unpark()
        else:
            self._watchdog.unwatch(parked)
        job = lambda: self._run_job(runner, parked.candidacy)  # noqa: E731
        later(lambda: pool.pool.run(job))  # on the watchdog: after its batch of ticks

    def _failed(self, exc: Exception, backoff: float) -> float:
        """Log a failed attempt; the next pause. An adapter's ConfigError goes to acquire()."""
        text = redact(str(exc))
        if events.listening():
            error = f"{type(exc).__name__}: {text}"
            self._publish(events.CampaignFailed, self._clock.now(), error)
        if isinstance(exc, ConfigError):
            log.error(
                "campaign for %r refused by the store: %s", self.name, text, extra=self._fields
            )
            with self._lock:
                self._error = exc
                self._settled.set()
                if not self._repeat:
                    self._want = False  # acquire() raises it; start() retries
        elif isinstance(exc, _Refused):
            log.error("campaign for %r: %s", self.name, text, extra=self._fields)
        elif isinstance(exc, LeaselectError):
            level = logging.DEBUG if backoff else logging.WARNING
            log.log(level, "campaign for %r failed: %s", self.name, text, extra=self._fields)
        else:
            level = logging.DEBUG if backoff else logging.ERROR
            log.log(
                level,
                "campaign for %r failed: %s: %s",
                self.name,
                type(exc).__name__,
                text,
                exc_info=not backoff,
                extra=self._fields,
            )
        return min(MAX_BACKOFF, backoff * 2 or RETRY_BACKOFF)

    def _abandon_tenure(self, candidacy: Candidacy | None) -> None:
        """An exception inside a tenure ends it (released) before anything is retried."""
        with self._lock:
            effects = self._machine.released(self._clock.now())
            self._apply(effects)
            self._unwatch()
        if effects and candidacy is not None:
            self._resign(candidacy)

    def _continue_or_exit(self, candidacy: Candidacy | None) -> bool:
        """Whether to campaign on; an exiting thread clears ``_thread`` under the lock."""
        with self._lock:
            if self._wanted():
                return True
            if candidacy is not None and self._keeper is not None:
                self._keeper.drop(candidacy)
            self._exit_thread()
            return False

    def _exit_thread(self) -> None:
        """The campaign thread ends: forget it, unless a newer one took its place."""
        with self._lock:
            if is_current(self._thread):
                self._thread = None

    def _wanted(self) -> bool:
        with self._lock:
            return self._want and not self._stop.is_set()

    def _ensure_candidacy(self) -> Candidacy:
        """The candidacy, created on first use (the store may be connected here), and held."""
        with self._lock:
            candidacy = self._candidacy
        if candidacy is None:
            session = self.backend.session(self.timing.ttl)
            candidacy = session.candidacy(self.name, self.identity, self.metadata)
            with self._lock:
                self._candidacy = candidacy
                self._keeper = keeper_for(session, self._clock)
        self._hold(candidacy)
        return candidacy

    def _hold(self, candidacy: Candidacy) -> None:
        """Have the keeper renew ``candidacy`` (no change if it already does)."""
        assert self._keeper is not None
        self._keeper.hold(
            Holder(
                candidacy,
                self.timing.renew_every,
                self.timing.retry_delay(),
                self._on_renewal,
                self._on_renew_failure,
            )
        )

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

    def _unwatch(self) -> None:
        """The tenure ends here (under the lock): the watchdog stops following it, and a thread
        about to follow its end is not started."""
        self._resuming = False
        if self._watched:
            self._watched = False
            self._watchdog.unwatch(self)

    def _after_tenure(self, candidacy: Candidacy) -> None:
        with self._lock:
            if not self._want:
                return
            if self._requests == self._tenure_request:  # an acquire since the loss stands
                self._want = self._repeat
        self._resign(candidacy)

    def _await_callbacks(self) -> None:
        """Campaign again only once ``on_lost`` has returned: its work may not have stopped."""
        dispatcher = self._dispatcher
        if dispatcher is not None:
            dispatcher.wait_idle(self._stop)

    def _resign(self, candidacy: Candidacy) -> None:
        try:
            candidacy.resign()
        except Exception as exc:
            log.warning(
                "resign from %r failed: %s", self.name, redact(str(exc)), extra=self._fields
            )

    # -- keeper callbacks -------------------------------------------------------------------

    def _on_renewal(self, renewal: Renewal, sent: float) -> None:
        with self._lock:
            now = self._clock.now()
            self._last_contact = now
            if renewal.ttl is not None:
                anchor = self._machine.anchor
                effects = self._machine.renewed(renewal.ttl, sent, now)
                lease = self._machine.lease
                if lease is not None and self._machine.anchor == sent and events.listening():
                    self._publish(
                        events.Renewed, now, lease.token, now - sent, now - anchor, lease.deadline
                    )
            elif renewal.reason is None:
                return
            else:
                effects = self._machine.taken(sent, now, renewal.reason)
            self._apply(effects)

    def _on_renew_failure(self, sent: float, now: float) -> None:
        with self._lock:
            lease = self._machine.lease
            if lease is not None and events.listening():  # before the jeopardy it may cause
                self._publish(events.RenewFailed, now, lease.token)
            self._apply(self._machine.renew_failed(now, sent))

    # -- effects ------------------------------------------------------------------------------

    def _apply(self, effects: list[Effect]) -> None:
        if effects and self._watched:
            self._watchdog.poke(self)
        if effects and events.listening():
            self._publish_effects(effects)
        for effect in effects:
            for observer in self._observers:
                observer(effect)
            if isinstance(effect, Elected):
                self._last_elected = effect.lease
                self.lost.clear()
                self._settled.set()
                token = effect.lease.token
                extra = with_fields(self._fields, token=token)
                log.info("elected %r token=%d as %s", self.name, token, self.identity, extra=extra)
                if (on_elected := self._callbacks.on_elected) is not None:
                    self._call(functools.partial(on_elected, effect.lease), "on_elected")
            elif isinstance(effect, Jeopardy):
                extra = with_fields(self._fields, token=effect.lease.token)
                log.warning("%r in jeopardy: renewals failing", self.name, extra=extra)
                if (on_jeopardy := self._callbacks.on_jeopardy) is not None:
                    self._call(functools.partial(on_jeopardy, effect.lease), "on_jeopardy")
            elif isinstance(effect, Recovered):
                extra = with_fields(self._fields, token=effect.lease.token)
                log.info("%r renewals recovered", self.name, extra=extra)
            elif isinstance(effect, Lost):
                self.lost.set()
                token, reason = effect.lease.token, effect.reason.value
                extra = with_fields(self._fields, token=token, reason=reason)
                log.info("lost %r token=%d: %s", self.name, token, reason, extra=extra)
                if (on_lost := self._callbacks.on_lost) is not None:
                    self._call(functools.partial(on_lost, effect.lease, effect.reason), "on_lost")

    def _publish_effects(self, effects: list[Effect]) -> None:
        now = self._clock.now()
        for effect in effects:
            lease = effect.lease
            if isinstance(effect, Elected):
                self._publish(events.Elected, now, lease.token, lease.ttl, lease.deadline)
            elif isinstance(effect, Jeopardy):
                self._publish(events.Jeopardy, now, lease.token, lease.deadline)
            elif isinstance(effect, Recovered):
                self._publish(events.Recovered, now, lease.token, lease.deadline)
            elif isinstance(effect, Lost):
                self._publish(events.Lost, now, lease.token, effect.reason)

    def _publish(self, kind: Callable[..., events.Event], at: float, *fields: object) -> None:
        """Queue one event for the listeners (never blocks: see leaselect.events)."""
        scheme = type(self.backend).scheme
        events.publish(kind(self.name, self.identity, scheme, at, *fields))

    def _call(self, call: Callable[[], None], label: str) -> None:
        """Queue ``call`` (a callback with its arguments) behind the elector's other callbacks."""
        if self._callbacks_stopped:
            return
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(self.name, self._user_mask, self._fields)
        self._dispatcher.submit(call, label)

    def _new_leader(self, leader: Leader | None) -> None:
        """A change the leader watch saw: ``on_new_leader`` in order with the other callbacks."""
        if (on_new_leader := self._callbacks.on_new_leader) is not None:
            self._call(functools.partial(on_new_leader, leader), "on_new_leader")

    def _close_backend(self) -> None:
        if self._owns_backend:
            shared.give_back(self.backend)


def _call_each(calls: tuple[Callable[[], None], ...]) -> None:
    for call in calls:
        call()
