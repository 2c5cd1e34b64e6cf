"""An in-memory backend for driving the Elector in unit tests: one holder, scripted renewals.

It stands in for the store only in unit tests of the driver's timing; every store adapter is
tested against its real server in tests/contract and tests/integration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from leaselect.backend import Backend, Candidacy, Grant, Renewal, Session, Waiting
from leaselect.errors import BackendUnavailable
from leaselect.lease import Leader, LostReason
from leaselect.testing import FakeClock
from leaselect.urls import StoreUrl


class ScriptedBackend(Backend):
    """Keep-alives behave as ``mode`` says: ok, fail, block, taken."""

    scheme = "scripted"

    def __init__(self) -> None:
        super().__init__()
        self.mode = "ok"
        self.unblock = threading.Event()
        self.holder: ScriptedCandidacy | None = None
        self.token = 0
        self.keep_alives = 0
        self.evidence_age = 0.0  # > 0: renewals are proved by a round trip sent this long ago
        self.grant_age = 0.0  # > 0: grants are proved by a round trip sent this long ago
        self.after_block = ""  # a blocked keep-alive answers as this mode once unblocked
        self.campaigns = 0
        self.lock = threading.Lock()
        self.session_errors: list[Exception] = []  # raised by the next session opens, in turn
        self.campaign_errors: list[Exception] = []  # raised by the next campaigns, in turn
        self.campaign_gate: threading.Event | None = None  # campaigns block until it is set
        self.repeat_token = False  # grant the last token again (an adapter bug to survive)
        self.candidacies: list[ScriptedCandidacy] = []  # woken when the holder resigns
        self.after_resign: Callable[[], object] | None = None  # run once the holder resigned
        self.events: list[str] = []  # "session closed", in order with whatever tests add
        self.clock: FakeClock | None = None  # waits time out on it when set (else real time)

    @classmethod
    def from_url(cls, url: StoreUrl) -> ScriptedBackend:
        return cls()

    def observe(self, name: str) -> Leader | None:
        holder = self.holder
        return None if holder is None else Leader(holder.identity, self.token, "", None)

    def _open_session(self, ttl: float) -> Session:
        if self.session_errors:
            raise self.session_errors.pop(0)
        return ScriptedSession(self, ttl)


class ScriptedSession(Session):
    def __init__(self, backend: ScriptedBackend, ttl: float) -> None:
        super().__init__(ttl)
        self.backend = backend

    def candidacy(self, name: str, identity: str, metadata: str) -> Candidacy:
        return ScriptedCandidacy(self, name, identity, metadata)

    def keep_alive(self, held: Sequence[Candidacy], sent: float) -> list[Renewal]:
        backend = self.backend
        backend.keep_alives += 1
        if backend.mode == "fail":
            raise BackendUnavailable("scripted: store unreachable")
        mode = backend.mode
        if mode == "block":
            backend.unblock.wait(30)
            mode = backend.after_block or backend.mode
        return [self._renewal(c, sent, mode) for c in held]

    def close(self) -> None:
        self.backend.events.append("session closed")

    def _renewal(self, candidacy: Candidacy, sent: float, mode: str) -> Renewal:
        if candidacy is not self.backend.holder:
            return Renewal(None, None)
        if mode == "taken":
            return Renewal(None, LostReason.TAKEN)
        if self.backend.evidence_age:
            return Renewal(self.ttl, None, sent - self.backend.evidence_age)
        return Renewal(self.ttl)


class ScriptedCandidacy(Candidacy):
    def __init__(self, session: ScriptedSession, name: str, identity: str, metadata: str) -> None:
        super().__init__(name, identity, metadata)
        self.session = session
        self.woken = threading.Event()
        session.backend.candidacies.append(self)

    def campaign(self, sent: float) -> Grant | Waiting:
        backend = self.session.backend
        with backend.lock:
            backend.campaigns += 1
            gate = backend.campaign_gate
            if backend.campaign_errors:
                raise backend.campaign_errors.pop(0)
        if gate is not None:
            gate.wait(30)
        with backend.lock:
            if backend.holder not in (None, self):
                return Waiting(None)
            backend.holder = self
            backend.token += 0 if backend.repeat_token and backend.token else 1
            return Grant(backend.token, self.session.ttl, sent - backend.grant_age)

    def wait(self, waiting: Waiting, timeout: float) -> None:
        clock = self.session.backend.clock
        if clock is None:
            self.woken.wait(timeout)
        else:
            clock.wait(self.woken, timeout)
        self.woken.clear()

    def resign(self) -> None:
        backend = self.session.backend
        with backend.lock:
            resigned = backend.holder is self
            if resigned:
                backend.holder = None
                for waiting in backend.candidacies:  # the store tells its waiters
                    waiting.woken.set()
        if resigned and backend.after_resign is not None:
            backend.after_resign()

    def interrupt(self) -> None:
        self.woken.set()
