"""An ``Elector``'s campaign: a thread (or a pool job resumed from a parked wait) that
campaigns until elected, parked or no longer wanted, retrying every error with a capped
backoff (docs/elector.md § 1, § 12)."""

from __future__ import annotations

import logging
import threading

from . import events, pool
from .backend import Candidacy, Waiting
from .deferred import later
from .elector_state import MAX_BACKOFF, RETRY_BACKOFF, WAIT_TTLS, log
from .elector_tenure import ElectorTenure
from .errors import ConfigError, LeaselectError
from .keeper import keeper_for
from .parking import Parked, Runner
from .signalmask import start_quiet
from .urls import redact
from .watching import Follower

_PARKED: list[pool.Job] = []  # _campaign_once: the wait was parked, the thread may go


class _Refused(Exception):
    """The campaign won with a grant the core refuses (a token not above every one seen)."""


class ElectorCampaign(ElectorTenure):
    """The campaign thread and the parked wait it may leave behind."""

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

    def _continue_or_exit(self, candidacy: Candidacy | None) -> bool:
        """Whether to campaign on; an exiting thread clears ``_thread`` under the lock."""
        with self._lock:
            if self._wanted():
                return True
            if candidacy is not None and self._keeper is not None:
                self._keeper.drop(candidacy)
            self._exit_thread()
            return False

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
