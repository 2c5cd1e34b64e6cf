"""One keep-alive loop per backend session, renewing every lease the process holds there."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .backend import Candidacy, Renewal, Session
from .clock import Clock
from .signalmask import start_quiet
from .urls import redact

log = logging.getLogger("leaselect")


@dataclass
class _Holder:
    candidacy: Candidacy
    renew_every: float
    retry_delay: float
    on_renewal: Callable[[Renewal, float], None]
    on_failure: Callable[[float, float], None]  # (sent, now) of the failed round


class Keeper:
    """Renews all held leases of one session together, on the earliest holder's schedule."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock
        self._holders: dict[int, _Holder] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._due = 0.0
        self._asked = 0.0  # the earliest renew_by since the round in flight began (0: none)
        self._last_sent = 0.0  # the send time of the last successful keep-alive, kept across idle
        self._failing = False

    def hold(self, holder: _Holder) -> None:
        """Start renewing ``holder.candidacy``'s lease (no change if it is held already)."""
        with self._lock:
            if id(holder.candidacy) in self._holders and self._thread is not None:
                self._holders[id(holder.candidacy)] = holder
                return
            self._holders[id(holder.candidacy)] = holder
            # a shared store lease (etcd, ZooKeeper) was last refreshed at _last_sent, not now
            start = self._last_sent or self._clock.now()
            due = start + holder.renew_every
            self._due = min(self._due, due) if self._due else due
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="leaselect-keeper", daemon=True
                )
                start_quiet(self._thread)
        self._wake.set()

    def now(self) -> float:
        """The time on this keeper's clock."""
        return self._clock.now()

    def renew_by(self, due: float) -> None:
        """Renew no later than ``due`` (a lease anchored before our last keep-alive)."""
        with self._lock:
            sooner = not self._due or due < self._due
            self._due = min(self._due, due) if self._due else due
            self._asked = min(self._asked, due) if self._asked else due  # outlives a round
        if sooner:  # else the thread already waits for an earlier time: no need to wake it
            self._wake.set()

    def drop(self, candidacy: Candidacy, wait: float = 0.0) -> None:
        """Stop renewing ``candidacy``'s lease; if nothing is left to renew, wait up to ``wait``
        seconds for the keeper thread to end (a round in flight finishes first)."""
        with self._lock:
            self._holders.pop(id(candidacy), None)
            thread = None if self._holders else self._thread
        self._wake.set()
        if wait > 0 and thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading the due time: a renew_by after it sets it again
            with self._lock:
                if not self._holders:
                    self._thread = None
                    self._due = 0.0
                    return
                due = self._due
            delay = due - self._clock.now()
            if delay > 0 and self._clock.wait(self._wake, delay):
                continue
            self._renew_once()

    def _renew_once(self) -> None:
        with self._lock:
            holders = list(self._holders.values())
            self._asked = 0.0  # asked before this round: this round answers it
        if not holders:
            return
        sent = self._clock.now()
        try:
            renewals = self._session.keep_alive([h.candidacy for h in holders], sent)
        except Exception as exc:  # any failure to renew is handled the same way: retry
            log.log(
                logging.DEBUG if self._failing else logging.WARNING,
                "renewal failed: %s",
                redact(str(exc)),
                extra={"store": self._session.store or None},
            )
            self._failing = True
            for holder in holders:
                holder.on_failure(sent, self._clock.now())
            self._reschedule(sent, min(h.retry_delay for h in holders))
            return
        self._failing = False
        anchor = min((r.anchor for r in renewals if r.anchor is not None), default=sent)
        with self._lock:
            self._last_sent = max(self._last_sent, anchor)
        for holder, renewal in zip(holders, renewals, strict=True):
            holder.on_renewal(renewal, sent if renewal.anchor is None else renewal.anchor)
        # evidence older than ``sent`` (a ping) ages from its own send: check again on its clock
        self._reschedule(anchor, min(h.renew_every for h in holders))

    def _reschedule(self, sent: float, delay: float) -> None:
        """The next round: ``delay`` after ``sent``, or earlier if asked during this round (a
        lease granted meanwhile, anchored before it, that this round did not cover)."""
        with self._lock:
            due = sent + delay
            self._due = min(due, self._asked) if self._asked else due
            self._asked = 0.0


_keepers_lock = threading.Lock()


def _new_lock_in_child() -> None:
    """A thread of the parent may have held the lock at the fork; none runs in the child."""
    global _keepers_lock
    _keepers_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _keepers(session: Session) -> dict[int, Keeper]:
    """``session``'s keepers by clock, kept on the session (a registry keyed by the session
    would keep it alive: its keepers refer to it), so a dropped session is collected."""
    keepers: dict[int, Keeper] = vars(session).setdefault("_leaselect_keepers", {})
    return keepers


def keeper_for(session: Session, clock: Clock) -> Keeper:
    """The keeper shared by every elector that holds leases through ``session`` with ``clock``."""
    with _keepers_lock:
        by_clock = _keepers(session)
        if id(clock) not in by_clock:
            by_clock[id(clock)] = Keeper(session, clock)
        return by_clock[id(clock)]


Holder = _Holder


def wake(session: Session) -> None:
    """Run every keeper of ``session`` now: the store reported news about its leases."""
    renew_within(session, 0.0)


def renew_within(session: Session, seconds: float) -> None:
    """Have every keeper of ``session`` run a round within ``seconds`` (each on its clock)."""
    with _keepers_lock:
        keepers = list(_keepers(session).values())
    for found in keepers:
        found.renew_by(found.now() + seconds)
