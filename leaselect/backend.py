"""The interface every store adapter implements: a handful of one-round-trip primitives.

The election algorithm (deadlines, renew schedule, jeopardy, signals) lives once, in the core.
An adapter only answers questions about the store. Times passed in (``sent``) are read from the
elector's clock just before the request leaves; adapters return them as lease anchors.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from .errors import LeaselectError
from .leader_feed import LeaderFeed
from .lease import Leader, LostReason
from .slots import Slots
from .timing import MAX_TTL
from .urls import StoreUrl


@dataclass(frozen=True)
class Grant:
    """The store made this candidacy leader.

    token: the fencing token. ttl: the TTL the store granted, in seconds.
    anchor: the elector-clock time of the send of the request that last refreshed the lease
    (never later than the ``sent`` given to ``campaign``).
    """

    token: int
    ttl: float
    anchor: float


@dataclass(frozen=True)
class Waiting:
    """Someone else leads; ``expires_in`` is the store's remaining lease time if known."""

    expires_in: float | None = None


@dataclass(frozen=True)
class Renewal:
    """One candidacy after a keep-alive.

    Renewed for ``ttl`` seconds; or gone (``ttl`` None) for ``reason``; or, with both None, the
    candidacy held no lease when the keep-alive ran (a waiting candidate). ``anchor``: the send
    time of the round trip that proved the renewal, when that was earlier than the keep-alive's
    own ``sent`` (ZooKeeper takes the client's last answered ping as evidence).
    """

    ttl: float | None
    reason: LostReason | None = LostReason.TAKEN
    anchor: float | None = None


class Candidacy(ABC):
    """One process's standing in one election, created by ``Session.candidacy``.

    A ``ConfigError`` raised by ``campaign`` reaches the caller of ``Elector.acquire()`` (and is
    logged at ERROR and retried under ``start()``); any other exception is retried with backoff.
    Calling ``interrupt`` also ends the elector's backoff pause between failed campaigns at once
    (an adapter calls it when its connection comes back).
    """

    def __init__(self, name: str, identity: str, metadata: str) -> None:
        self.name = name
        self.identity = identity
        self.metadata = metadata

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("interrupt")
        if own is not None and not getattr(own, "_sets_wakeup", False):
            cls.interrupt = _setting_wakeup(own)  # type: ignore[method-assign,assignment]

    @property
    def wakeup(self) -> threading.Event:
        """Set by every ``interrupt`` call; the elector waits on it between failed campaigns."""
        event: threading.Event = vars(self).setdefault("_leaselect_wakeup", threading.Event())
        return event

    @abstractmethod
    def campaign(self, sent: float) -> Grant | Waiting:
        """Register if needed and try to lead; a request sent at ``sent``."""

    @abstractmethod
    def wait(self, waiting: Waiting, timeout: float) -> None:
        """Block until the store reports a change worth a new ``campaign``, or ``timeout``.

        Where the store reports no expiry, the adapter wakes at the holder's expiry itself
        (``waiting.expires_in``): ``timeout`` is the driver's safety net (10 TTLs), not a poll.
        """

    def park(self, waiting: Waiting, timeout: float, resume: Callable[[], None]) -> float | None:
        """``wait`` without a thread: call ``resume()`` once, on any thread and holding none of
        the adapter's locks, when ``wait`` would return for a change or an ``interrupt``; return
        the seconds after which the caller resumes anyway (at most ``timeout``; the holder's
        expiry where the store reports none; 0: resume now). None (the default): parking is not
        supported here, the caller calls ``wait``."""
        return None

    def unpark(self) -> None:
        """Forget the ``resume`` of a parked wait (the caller resumed at its time limit)."""

    @abstractmethod
    def resign(self) -> None:
        """Give up leadership if held, leave the queue and wake the next candidate."""

    @abstractmethod
    def interrupt(self) -> None:
        """Make a ``wait`` blocked in another thread return now."""


def _setting_wakeup(interrupt: Callable[[Candidacy], None]) -> Callable[[Candidacy], None]:
    """``interrupt`` that first sets the candidacy's ``wakeup`` event."""

    @functools.wraps(interrupt)
    def wrapped(self: Candidacy) -> None:
        self.wakeup.set()
        interrupt(self)

    wrapped._sets_wakeup = True  # type: ignore[attr-defined]
    return wrapped


class Tenant(Protocol):
    """What uses a backend (an ``Elector``): told first when the backend closes."""

    def _backend_closing(self) -> float:
        """End every tenure held through the backend now and stop campaigning there; returns
        the time (``time.monotonic``) until which ``_backend_closed`` waits for callbacks."""

    def _backend_closed(self, until: float) -> None:
        """Wait for the callbacks (until ``until`` at most), step down in the store, close."""


class Session(ABC):
    """What a process holds with one TTL; one keep-alive renews every lease it holds."""

    store = ""  # the backend's URL scheme (set by ``Backend.session``): logs carry it

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.closing = False
        """Set when the backend's ``close()`` begins: this session's ``close()`` follows, so a
        resign may leave deleting to it (it deletes everything the session holds at once)."""

    @abstractmethod
    def candidacy(self, name: str, identity: str, metadata: str) -> Candidacy:
        """A new candidacy in election ``name``."""

    @abstractmethod
    def keep_alive(self, held: Sequence[Candidacy], sent: float) -> list[Renewal]:
        """Renew every lease in ``held`` in as few round trips as the store allows."""

    def close(self) -> None:
        """Release what the session holds in the store."""


_slots_lock = threading.Lock()


def _new_lock_in_child() -> None:
    """A thread of the parent may have held the lock at the fork; none runs in the child."""
    global _slots_lock
    _slots_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


class Backend(ABC):
    """A connection to one coordination store."""

    scheme: ClassVar[str]
    max_ttl: ClassVar[float] = MAX_TTL
    """The longest TTL (seconds) the store accepts; ``Elector`` refuses a larger one up front."""

    def __init__(self) -> None:
        self._sessions: dict[float, Session] = {}
        self._sessions_lock = threading.Lock()
        self._tenants: weakref.WeakSet[Tenant] = weakref.WeakSet()

    @property
    def campaign_slots(self) -> Slots:
        """Bounds the campaign attempts this backend runs at once (see ``leaselect.slots``)."""
        with _slots_lock:
            slots: Slots = vars(self).setdefault("_campaign_slots", Slots())
            return slots

    @property
    def closing(self) -> bool:
        """True once ``close()`` has begun: no tenure may begin on this backend any more."""
        return bool(vars(self).get("_close_begun", False))

    def session(self, ttl: float) -> Session:
        """The session shared by every elector of this backend that uses ``ttl``."""
        if self.closing:
            raise LeaselectError(f"backend is closed: {type(self).__name__}")
        with self._sessions_lock:
            if ttl not in self._sessions:
                self._sessions[ttl] = self._open_session(ttl)
                self._sessions[ttl].store = type(self).scheme
            return self._sessions[ttl]

    @classmethod
    @abstractmethod
    def from_url(cls, url: StoreUrl) -> Backend:
        """A backend for a parsed URL of this backend's scheme."""

    def check_ttl(self, ttl: float) -> None:
        """Raise ``ConfigError`` if the store cannot honour ``ttl``."""

    def advance_mark(self, name: str, mark: str, value: int, token: int) -> bool:
        """Raise mark ``mark`` of election ``name`` to ``value``, fenced by ``token`` (one call).

        Atomically: if no write with a larger token and none with a value >= ``value`` came
        before, store (``token``, ``value``) and return True; else change nothing and return
        False. So the register only rises, and once a tenure wrote it, no superseded tenure can.
        ``mark`` matches ``[A-Za-z0-9._-]{1,128}``. Marks outlive leases (``LeaderScheduler``
        keeps one per job: the last fire time admitted). Raises ``BackendUnavailable`` when the
        store cannot be reached (the mark may or may not have been written).
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no marks")

    @abstractmethod
    def observe(self, name: str) -> Leader | None:
        """The current leader of ``name`` as the store sees it, or None."""

    def leader_feed(self, names: Sequence[str]) -> LeaderFeed:
        """Pushed hints that the leader of one of ``names`` may have changed (what
        ``leaselect.watch`` reads by; see leaselect.leader_feed)."""
        raise NotImplementedError(f"{type(self).__name__} cannot watch leaders")

    def expire_lease(self, name: str) -> bool:
        """For tests (``leaselect.pytest_plugin``): delete the current leader's lease record of
        ``name`` in the store, as its expiry would; False if nobody leads. The holder learns it
        at its next renewal; the next in line takes over as after an expiry."""
        raise NotImplementedError(f"{type(self).__name__} cannot expire a lease")

    @abstractmethod
    def _open_session(self, ttl: float) -> Session:
        """Create the store-side state for a new session."""

    def _close(self) -> None:
        """Close the client connection."""

    def attach(self, tenant: Tenant) -> None:
        """Have ``tenant`` told first when this backend closes (every ``Elector`` attaches)."""
        self._tenant_set().add(tenant)

    def detach(self, tenant: Tenant) -> None:
        """Undo ``attach``."""
        self._tenant_set().discard(tenant)

    def _tenant_set(self) -> weakref.WeakSet[Tenant]:
        tenants: weakref.WeakSet[Tenant] = vars(self).setdefault("_tenants", weakref.WeakSet())
        return tenants

    def close(self) -> None:
        """End every tenure held through this backend, then close every session and the
        connection: no elector still believes it leads when its store state is revoked.

        ``closing`` is True before the first tenure ends: a waiter that the first resign lets win
        refuses that grant (resigns), so no tenure begins on a closing backend.
        """
        self._close_begun = True
        with self._sessions_lock:
            for session in self._sessions.values():
                session.closing = True  # a resign need not wait: the session's close deletes
        tenants = list(self._tenant_set())
        bounds = [tenant._backend_closing() for tenant in tenants]  # every tenure ends first
        for tenant, until in zip(tenants, bounds, strict=True):
            tenant._backend_closed(until)
        with self._sessions_lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()
        self._close()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
