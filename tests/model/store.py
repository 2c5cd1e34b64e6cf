"""An in-memory adversarial store for the model-based test of the elector.

It keeps the store's truth (who holds the one lease, until when on the store's clock, the token
counter) and implements ``Backend``/``Session``/``Candidacy``. Every request (campaign,
keep-alive, resign) blocks its caller until the test decides its fate: delivered, applied with
the reply held back (delivered later, in any order), applied with the reply lost, lost before it
reached the store, applied twice, or raising. So the test, not thread timing, chooses what
happens. The store's clock is the elector's clock; a lease may expire early, but never before
``receive + ttl * (1 - drift) / (1 + drift)``, the bound the local-deadline rule assumes.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from leaselect import pool
from leaselect.backend import Backend, Candidacy, Grant, Renewal, Session, Waiting
from leaselect.errors import BackendUnavailable
from leaselect.lease import Leader, LostReason
from leaselect.urls import StoreUrl

from .harness import ModelClock

REPLY_WAIT = 120.0  # real seconds a request may wait for the test's decision (a safety net only)


@dataclass
class Call:
    """One request waiting for the test's decision."""

    number: int
    kind: str  # campaign | keep_alive | resign
    who: str  # the identities it concerns
    apply: Callable[[], object]
    applied: bool = False
    result: object = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def __repr__(self) -> str:
        stage = "reply" if self.applied else "request"
        return f"<{self.kind} #{self.number} {self.who} {stage}>"


class Store:
    """The store's truth, shared by every backend of the model, and the queue of requests."""

    def __init__(self, clock: ModelClock, ttl: float, drift: float) -> None:
        self.clock = clock
        self.ttl = ttl
        self.floor = ttl * (1 - drift) / (1 + drift)  # earliest expiry after a receive
        self.lock = threading.Lock()
        self.holder: ModelCandidacy | None = None
        self.expiry = 0.0  # store time the holder's lease ends without early expiry
        self.earliest = 0.0  # store time from which the lease may expire early
        self.token = 0
        self.had_lease: set[int] = set()  # candidacies told they lead and not yet told otherwise
        self.pending: list[Call] = []
        self.blocked: dict[int, Call] = {}  # thread ident -> its request
        self.mode = "deliver"  # or "manual" (the test decides), or a fate for every request
        self.fail_sessions = 0
        self.grants: list[tuple[float, str, int]] = []
        self.candidacies: list[ModelCandidacy] = []
        self._numbers = itertools.count(1)

    # -- truth --------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def expire_due(self) -> None:
        """Apply natural expiry (lazily, as every store does on access). Call under ``lock``."""
        if self.holder is not None and self.now() >= self.expiry:
            self._free()

    def live_holder(self) -> ModelCandidacy | None:
        with self.lock:
            self.expire_due()
            return self.holder

    def may_expire_early(self) -> bool:
        with self.lock:
            return self.holder is not None and self.now() >= self.earliest

    def expire_early(self) -> None:
        with self.lock:
            if self.holder is not None and self.now() >= self.earliest:
                self._free()

    def _free(self) -> None:
        self.holder = None
        for candidacy in self.candidacies:
            candidacy.wake_up()

    def _refresh(self, candidacy: ModelCandidacy) -> None:
        now = self.now()
        self.expiry = now + self.ttl
        self.earliest = now + self.floor
        self.had_lease.add(candidacy.number)

    def campaign(self, candidacy: ModelCandidacy, sent: float) -> Grant | Waiting:
        with self.lock:
            self.expire_due()
            if self.holder is None:
                self.holder = candidacy
                self.token += 1
                self._refresh(candidacy)
                self.grants.append((self.now(), candidacy.identity, self.token))
                return Grant(self.token, self.ttl, sent)
            if self.holder is candidacy:  # our key still lives: re-adopt it (as Redis and etcd do)
                self._refresh(candidacy)
                return Grant(self.token, self.ttl, sent)
            return Waiting(self.expiry - self.now())

    def keep_alive(self, held: Sequence[ModelCandidacy]) -> list[Renewal]:
        with self.lock:
            self.expire_due()
            renewals = []
            for candidacy in held:
                if candidacy is self.holder:
                    self._refresh(candidacy)
                    renewals.append(Renewal(self.ttl))
                elif candidacy.number in self.had_lease:
                    self.had_lease.discard(candidacy.number)
                    renewals.append(Renewal(None, LostReason.EXPIRED))
                else:
                    renewals.append(Renewal(None, None))
            return renewals

    def resign(self, candidacy: ModelCandidacy) -> None:
        with self.lock:
            self.had_lease.discard(candidacy.number)
            if self.holder is candidacy:
                self._free()

    # -- requests -----------------------------------------------------------------------------

    def request(self, kind: str, who: str, apply: Callable[[], object]) -> object:
        """Send a request and block until the test (or auto mode) decides its fate."""
        call = Call(next(self._numbers), kind, who, apply)
        ident = threading.get_ident()
        with self.lock:
            mode = self.mode
            self.pending.append(call)
            if mode == "manual":
                self.blocked[ident] = call
        if mode != "manual":
            self.resolve(call, mode)
        try:
            if not call.done.wait(REPLY_WAIT):
                raise AssertionError(f"{call!r} never answered")
        finally:
            with self.lock:
                self.blocked.pop(ident, None)
        if call.error is not None:
            raise call.error
        return call.result

    def resolve(self, call: Call, how: str) -> None:
        """Decide a pending call's fate (see ``FATES``)."""
        with self.lock:
            if call not in self.pending:
                return
        if how in ("deliver", "hold", "lose_reply", "duplicate") and not call.applied:
            call.result = call.apply()
            call.applied = True
            if how == "duplicate":
                call.apply()  # the second copy's reply is dropped by the network
        if how == "hold":
            return  # applied; the reply arrives when the test delivers it
        if how == "lose_reply":
            call.error = BackendUnavailable(f"model: reply to {call.kind} lost")
        elif how == "lose_request":
            call.error = BackendUnavailable(f"model: {call.kind} request lost")
        elif how == "overflow":
            call.error = OverflowError("model: timeout too large to convert")
        elif how == "crash":
            call.error = RuntimeError("model: unexpected client error")
        with self.lock:
            self.pending.remove(call)
        call.done.set()

    def set_mode(self, mode: str) -> None:
        """Apply ``mode`` to every future request (and, unless manual, to the pending ones)."""
        with self.lock:
            self.mode = mode
            pending = [] if mode == "manual" else list(self.pending)
        for call in pending:
            self.resolve(call, mode)

    def set_auto(self) -> None:
        """No more faults: deliver every pending and future request."""
        self.set_mode("deliver")


FATES = ("deliver", "hold", "lose_reply", "lose_request", "duplicate")
MODES = ("manual", "deliver", "lose_reply", "lose_request")
CAMPAIGN_ERRORS = ("overflow", "crash")


class ModelBackend(Backend):
    """One process's connection to the shared ``Store``."""

    scheme = "model"

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.closed = False

    @classmethod
    def from_url(cls, url: StoreUrl) -> ModelBackend:
        raise NotImplementedError("the model backend is built by the test")

    def observe(self, name: str) -> Leader | None:
        holder = self.store.live_holder()
        return None if holder is None else Leader(holder.identity, self.store.token, "", None)

    def _open_session(self, ttl: float) -> Session:
        store = self.store
        if self.closed:
            raise BackendUnavailable("model: backend closed")
        with store.lock:
            if store.fail_sessions:
                store.fail_sessions -= 1
                raise BackendUnavailable("model: session creation failed")
        return ModelSession(self, ttl)

    def _close(self) -> None:
        self.closed = True


class ModelSession(Session):
    def __init__(self, backend: ModelBackend, ttl: float) -> None:
        super().__init__(ttl)
        self.backend = backend
        self.mine: list[ModelCandidacy] = []

    def candidacy(self, name: str, identity: str, metadata: str) -> Candidacy:
        candidacy = ModelCandidacy(self, name, identity, metadata)
        self.mine.append(candidacy)
        return candidacy

    def keep_alive(self, held: Sequence[Candidacy], sent: float) -> list[Renewal]:
        mine = [c for c in held if isinstance(c, ModelCandidacy)]
        store = self.backend.store
        who = ",".join(c.identity for c in mine)
        return store.request("keep_alive", who, lambda: self._checked(store.keep_alive, mine))  # type: ignore[return-value]

    def _checked(self, operation: Callable[..., object], *args: object) -> object:
        if self.backend.closed:
            raise BackendUnavailable("model: backend closed")
        return operation(*args)

    def close(self) -> None:
        for candidacy in self.mine:
            self.backend.store.resign(candidacy)


class ModelCandidacy(Candidacy):
    _numbers = itertools.count(1)

    def __init__(self, session: ModelSession, name: str, identity: str, metadata: str) -> None:
        super().__init__(name, identity, metadata)
        self.session = session
        self.number = next(self._numbers)
        self.woken = threading.Event()
        self.resume: Callable[[], None] | None = None  # of a parked wait
        store = session.backend.store
        with store.lock:
            store.candidacies.append(self)

    @property
    def store(self) -> Store:
        return self.session.backend.store

    def campaign(self, sent: float) -> Grant | Waiting:
        apply = lambda: self.session._checked(self.store.campaign, self, sent)  # noqa: E731
        return self.store.request("campaign", self.identity, apply)  # type: ignore[return-value]

    def wait(self, waiting: Waiting, timeout: float) -> None:
        store = self.store
        with store.lock:
            if store.holder is not None:
                timeout = min(timeout, max(0.0, store.expiry - store.now()))
        store.clock.wait(self.woken, timeout)
        self.woken.clear()

    def resign(self) -> None:
        apply = lambda: self.session._checked(self.store.resign, self)  # noqa: E731
        self.store.request("resign", self.identity, apply)

    def park(self, waiting: Waiting, timeout: float, resume: Callable[[], None]) -> float:
        """The parked wait's ``resume`` runs on a thread of its own (a pool thread, as a
        client library's event thread would), when the lease is freed or on ``interrupt``."""
        store = self.store
        with store.lock:
            if store.holder is not None:
                timeout = min(timeout, max(0.0, store.expiry - store.now()))
            if self.woken.is_set():
                self.woken.clear()
                return 0.0
            self.resume = resume
        return timeout

    def unpark(self) -> None:
        with self.store.lock:
            self.resume = None
            self.woken.clear()

    def wake_up(self) -> None:
        """The lease was freed, or an interrupt (under the store's lock)."""
        self.woken.set()
        resume, self.resume = self.resume, None
        if resume is not None:
            self.woken.clear()
            pool.pool.run(resume)

    def interrupt(self) -> None:
        with self.store.lock:
            self.wake_up()
