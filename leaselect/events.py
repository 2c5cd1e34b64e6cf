"""What happens to electors, told to listeners off the hot path: the base of metrics and logs.

``subscribe(listener)`` registers a callable for every elector of the process; it receives
``Elected``, ``Lost``, ``Jeopardy``, ``Recovered``, ``Renewed``, ``RenewFailed`` and
``CampaignFailed`` values. Electors never call a listener themselves: they append the event to
each subscription's bounded queue (no lock an elector holds is held while a listener runs), and
one thread per subscription delivers them in order, in batches every ``TICK`` (50 ms) while
events come. An elector wakes it only after a minute without events: a woken thread competes
for the GIL with the hand-over or callback that caused the event. A listener that raises is
logged once and keeps receiving; one that blocks holds only its own queue, which drops the
events that do not fit (logged once) rather than grow or slow an elector. A subscription gets
the events of the tenures whose ``Elected`` it got (never a ``Lost`` without its ``Elected``),
and every ``CampaignFailed``. ``Subscription.close()`` ends the thread once a blocked listener
returns (it logs that the listener is still blocked).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .lease import LostReason
from .signalmask import start_quiet

log = logging.getLogger("leaselect")

QUEUE_LIMIT = 10_000  # events a subscription holds for a listener that is behind
BLOCKED_AFTER = 5.0  # seconds in one call after which a listener is reported as blocked
TICK = 0.05  # a delivery thread with recent events looks for more this often, unwoken
STAY_TICKING = 60.0  # seconds without an event after which it sleeps until woken


@dataclass(frozen=True)
class Event:
    """Something that happened to one elector; ``at`` is the elector's clock."""

    election: str
    identity: str
    store: str  # the backend's URL scheme
    at: float


@dataclass(frozen=True)
class Elected(Event):
    token: int
    ttl: float
    deadline: float


@dataclass(frozen=True)
class Lost(Event):
    token: int
    reason: LostReason


@dataclass(frozen=True)
class Jeopardy(Event):
    """Renewals are failing; the lease holds until ``deadline``."""

    token: int
    deadline: float


@dataclass(frozen=True)
class Recovered(Event):
    token: int
    deadline: float


@dataclass(frozen=True)
class Renewed(Event):
    """A renewal of the lease ``token`` succeeded: sent ``round_trip`` seconds before ``at``;
    the lease's previous confirmation was ``anchor_age`` seconds old when it came back."""

    token: int
    round_trip: float
    anchor_age: float
    deadline: float


@dataclass(frozen=True)
class RenewFailed(Event):
    """A renewal while leading could not reach the store."""

    token: int


@dataclass(frozen=True)
class CampaignFailed(Event):
    """A campaign attempt failed (the elector retries); ``error`` has no credentials."""

    error: str


Listener = Callable[[Event], object]


class Subscription:
    """One listener's queue and delivery thread (see the module docstring)."""

    def __init__(self, listener: Listener, limit: int = QUEUE_LIMIT) -> None:
        if not callable(listener):
            raise TypeError(f"listener must be callable, got {type(listener).__name__}")
        self.listener = listener
        self._limit = limit
        self._queue: collections.deque[Event] = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._raised = False
        self._dropped = 0
        self._delivering = False
        self._idle = False  # the thread waits for events: the next one must wake it
        self._last_batch = 0.0  # time.monotonic() of the latest batch
        self._since = 0.0  # time.monotonic() the listener's current call began
        self._reported_blocked = False
        self._tenures: set[tuple[str, str, str, int]] = set()  # begun since subscribing

    def put(self, event: Event) -> None:
        """Queue ``event`` (on the elector's thread: never blocks, never raises). Events of a
        tenure that began before the subscription are not delivered (see ``_seen``)."""
        with self._ready:
            if self._closed or not self._seen(event):
                return
            self._report_blocked()
            if len(self._queue) >= self._limit:
                self._dropped += 1
                if self._dropped == 1:
                    log.warning("leaselect: event listener %r is behind; dropping events", self)
                return
            self._queue.append(event)
            if isinstance(event, Elected):
                self._tenures.add((event.election, event.identity, event.store, event.token))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._deliver, name="leaselect-events", daemon=True
                )
                try:
                    start_quiet(self._thread)
                except Exception:  # no thread to be had: the next event tries again
                    self._thread = None
                    return
            if self._idle:
                self._ready.notify()

    def _seen(self, event: Event) -> bool:
        """Whether ``event`` belongs to a tenure whose ``Elected`` this subscription had (or to
        no tenure): a listener never gets a ``Lost`` without its ``Elected``."""
        token = getattr(event, "token", None)
        if token is None:
            return True
        tenure = (event.election, event.identity, event.store, token)
        if isinstance(event, Elected):
            return True  # tracked once queued (see put)
        if tenure not in self._tenures:
            return False
        if isinstance(event, Lost):
            self._tenures.discard(tenure)
        return True

    def _report_blocked(self) -> None:
        """Log once when the listener's current call has run longer than ``BLOCKED_AFTER``."""
        if self._reported_blocked or not self._delivering:
            return
        if time.monotonic() - self._since > BLOCKED_AFTER:
            self._reported_blocked = True
            log.warning(
                "leaselect: event listener %r blocked for over %g s (reported once)",
                self,
                BLOCKED_AFTER,
            )

    @property
    def dropped(self) -> int:
        """Events not delivered because the listener was behind."""
        return self._dropped

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event was delivered (True) or ``timeout`` passes."""
        with self._ready:
            return self._ready.wait_for(lambda: not self._queue and not self._delivering, timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop delivering (events still queued are dropped) and end the thread."""
        with self._ready:
            self._closed = True
            self._queue.clear()
            thread, self._thread = self._thread, None
            self._ready.notify_all()
        unsubscribe(self)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning(
                    "leaselect: event listener %r is still blocked: its thread ends when it "
                    "returns",
                    self,
                )

    def _deliver(self) -> None:
        """Deliver in batches: an elector wakes this thread only when it sleeps."""
        while True:
            with self._ready:
                self._delivering = False
                self._ready.notify_all()  # flush()
                if time.monotonic() - self._last_batch > STAY_TICKING:
                    self._idle = True
                    self._ready.wait_for(lambda: self._queue or self._closed)
                    self._idle = False
                else:
                    self._ready.wait(TICK)  # not woken by put: see the module docstring
                if self._closed:
                    return
                if not self._queue:
                    continue
                self._last_batch = time.monotonic()
                batch, self._queue = self._queue, collections.deque()
                self._delivering = True
            for event in batch:
                if self._closed:
                    return
                self._since = time.monotonic()
                try:
                    self.listener(event)
                except BaseException:  # contained: the elector never sees it
                    if not self._raised:
                        self._raised = True
                        log.exception("leaselect: event listener %r raised (reported once)", self)

    def __repr__(self) -> str:
        return f"Subscription({getattr(self.listener, '__qualname__', self.listener)!r})"


_subscriptions: tuple[Subscription, ...] = ()
_lock = threading.Lock()


def subscribe(listener: Listener, limit: int = QUEUE_LIMIT) -> Subscription:
    """Deliver every elector's events to ``listener`` until the subscription is closed."""
    global _subscriptions
    subscription = Subscription(listener, limit)
    with _lock:
        _subscriptions = (*_subscriptions, subscription)
    return subscription


def unsubscribe(subscription: Subscription) -> None:
    global _subscriptions
    with _lock:
        _subscriptions = tuple(s for s in _subscriptions if s is not subscription)


def listening() -> bool:
    """Whether any listener is subscribed (electors build no event otherwise)."""
    return bool(_subscriptions)


def publish(event: Event) -> None:
    """Queue ``event`` for every subscription."""
    for subscription in _subscriptions:
        subscription.put(event)
