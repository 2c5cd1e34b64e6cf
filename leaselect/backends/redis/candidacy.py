"""One process's place in one Redis election: campaign, wait for a wake-up, resign.

A candidate that loses registers in ``<prefix>{name}:waiters`` and waits, for at most the
holder's PTTL, for a push to its own wake list (``wakes``); a release hands the lease to one
waiter and pushes the grant to its list, so the next leader needs no round trip of its own
(``_Scores`` says where such a grant may be anchored).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from redis.commands.core import Script

from ...backend import Candidacy, Grant, Renewal, Waiting
from ...clock import Clock
from ...errors import LeaselectError
from ...lease import LostReason
from .client import MAX_BLOCK
from .wakes import Wakes

WAKE_MS = 60_000  # an unconsumed wake-up vanishes after this
ERROR_BACKOFF = 0.5  # seconds a wait whose watch failed (store unreachable) backs off


class Server(Protocol):
    """What a candidacy uses of its backend (``RedisBackend``)."""

    @property
    def acquire_script(self) -> Script: ...
    @property
    def release_script(self) -> Script: ...
    @property
    def wakes(self) -> Wakes: ...
    @property
    def clock(self) -> Clock: ...
    def talking(self) -> AbstractContextManager[None]: ...
    def key(self, name: str, part: str) -> str: ...
    def untold(self) -> None: ...


class LeaseSession(Protocol):
    """What a candidacy uses of its session (``RedisSession``)."""

    @property
    def backend(self) -> Server: ...
    @property
    def ttl_ms(self) -> int: ...
    @property
    def granted(self) -> float: ...


class _Keys:
    """The keys of one election, as one candidacy uses them."""

    def __init__(self, backend: Server, name: str, waiter_id: str) -> None:
        self.lease = backend.key(name, "lease")
        self.token = backend.key(name, "token")
        self.waiters = backend.key(name, "waiters")
        self.cands = backend.key(name, "cands")
        self.wake_prefix = backend.key(name, "wake:")
        self.wake = self.wake_prefix + waiter_id


class RedisCandidacy(Candidacy):
    """One process's place in one Redis election."""

    def __init__(self, session: LeaseSession, name: str, identity: str, metadata: str) -> None:
        super().__init__(name, identity, metadata)
        self.session = session
        self.backend = session.backend
        self.waiter_id = secrets.token_hex(8)
        self.keys = _Keys(self.backend, name, self.waiter_id)
        self.nonce = secrets.token_hex(16)
        self.leading = False
        self._payload = json.dumps({"i": identity, "m": metadata}, separators=(",", ":"))
        self._wake_by = 0.0  # the time (backend.clock) before which the holder's key cannot expire
        self._interrupted = threading.Event()  # ends a wait: interrupt() or a wake-up
        self._lock = threading.Lock()
        self._watching = False
        self._resume: Callable[[], None] | None = None  # of a parked wait (see park)
        self._scores = _Scores()
        self._handed: Grant | None = None

    def campaign(self, sent: float) -> Grant | Waiting:
        handed, self._handed = self._handed, None
        ttl = self.session.granted
        if handed is not None and handed.ttl >= ttl / 2 and sent - handed.anchor < ttl / 6:
            self.leading = True
            return handed
        k = self.keys
        keys = [k.lease, k.token, k.waiters, k.wake, k.cands]
        args: list[str | int] = [self.nonce, self.session.ttl_ms, self._payload, self.waiter_id]
        asked = self.backend.clock.now()
        with self.backend.talking():
            won, value, *score = self.backend.acquire_script(keys=keys, args=args)
        if won:
            self.leading = True
            if score:
                self.backend.untold()
            return Grant(int(value), ttl, sent)
        self._scores.wrote(int(score[0]), sent)
        expires_in = max(int(value), 0) / 1000
        self._wake_by = asked + expires_in  # never later than the key's expiry
        return Waiting(expires_in)

    def wait(self, waiting: Waiting, timeout: float) -> None:
        if waiting.expires_in is not None:
            timeout = min(timeout, self._wake_by - self.backend.clock.now() + 0.001)
        timeout = min(timeout, MAX_BLOCK)
        try:
            if self._interrupted.is_set() or timeout <= 0:
                return
            with self._lock:
                self._watching = True
            try:
                with self.backend.talking():
                    self.backend.wakes.watch(self.keys.wake, self._delivered)
            except LeaselectError:  # back off (interruptibly); the next campaign reports it
                timeout = min(timeout, ERROR_BACKOFF)
            self._interrupted.wait(timeout)
        finally:
            self.backend.wakes.unwatch(self.keys.wake)
            with self._lock:
                self._watching = False
            self._interrupted.clear()

    def park(self, waiting: Waiting, timeout: float, resume: Callable[[], None]) -> float:
        """``wait`` without a thread: the wake-up thread's delivery, or ``interrupt``, calls
        ``resume``; the caller resumes at the holder's expiry otherwise."""
        if waiting.expires_in is not None:
            timeout = min(timeout, self._wake_by - self.backend.clock.now() + 0.001)
        timeout = min(timeout, MAX_BLOCK)
        with self._lock:
            if self._interrupted.is_set() or timeout <= 0:
                self._interrupted.clear()
                return 0.0
            self._watching, self._resume = True, resume
        try:
            with self.backend.talking():
                self.backend.wakes.watch(self.keys.wake, self._delivered)
        except LeaselectError:  # back off; the next campaign reports it
            timeout = min(timeout, ERROR_BACKOFF)
        return timeout

    def unpark(self) -> None:
        with self._lock:
            self._watching, self._resume = False, None
        self.backend.wakes.unwatch(self.keys.wake)
        self._interrupted.clear()

    def _delivered(self, message: bytes) -> None:
        """A message popped from our wake list (on the wake-up thread): a grant, or a nudge
        to campaign. Dropped when we no longer wait: the campaign under way finds a handed
        lease under our nonce anyway."""
        with self._lock:
            if not self._watching:
                return
            self._handed = self._grant(message)
        self._interrupted.set()
        self._resume_parked()

    def _resume_parked(self) -> None:
        """End a parked wait, if one is parked: stop watching, then ``resume`` (no lock held)."""
        with self._lock:
            resume, self._resume = self._resume, None
            if resume is not None:
                self._watching = False
        if resume is None:
            return
        self.backend.wakes.unwatch(self.keys.wake)
        self._interrupted.clear()
        resume()

    def _grant(self, message: bytes) -> Grant | None:
        """The lease a release handed us (``g|token|px|score``), anchored where that is safe."""
        if not message.startswith(b"g|"):
            return None
        token, px, score = (int(part) for part in message.split(b"|")[1:])
        anchor = self._scores.sent(score)
        return None if anchor is None else Grant(token, px / 1000, anchor)

    def resign(self) -> None:
        # A new nonce first, whatever the release's fate: a later campaign that found the old
        # key alive (the release failed) must not re-adopt it and hand out its token again.
        nonce, self.nonce = self.nonce, secrets.token_hex(16)
        self.leading = False
        self._handed = None
        self._scores.clear()
        self._interrupted.clear()  # the elector interrupts before it resigns; start afresh
        keys = [self.keys.lease, self.keys.waiters, self.keys.cands, self.keys.token]
        args: list[str | int] = [
            nonce,
            self.waiter_id,
            self.keys.wake_prefix,
            WAKE_MS,
            self.session.ttl_ms,
        ]
        with self.backend.talking():
            if self.backend.release_script(keys=keys, args=args) >= 2:
                self.backend.untold()

    def interrupt(self) -> None:
        self._interrupted.set()
        self._resume_parked()

    def renewing(self) -> str:
        """What a keep-alive asks for this candidacy: our nonce if leading, else ''."""
        return self.nonce if self.leading else ""

    def renewed(self, code: int, asked: str, ttl: float, sent: float) -> Renewal:
        """The ``Renewal`` for one keep-alive result ``code`` of a request sent at ``sent``
        that asked ``asked`` (``renewing()`` then)."""
        if asked != self.renewing():
            return Renewal(None, None)  # a reply about an earlier tenure (or none): not ours now
        if code > 2:
            self._scores.wrote(code, sent)
        if code >= 2:
            return Renewal(None, None)
        if code == 1:
            return Renewal(ttl)
        self.leading = False
        return Renewal(None, LostReason.EXPIRED if code == 0 else LostReason.TAKEN)


class _Scores:
    """When we sent each recent request that wrote our registration score (elector clock).

    A release that hands us the lease read one of these scores, so it ran after that send: the
    send time is a safe anchor for the handed lease. For a score written twice, the earlier.
    """

    KEEP = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[int, float] = {}

    def wrote(self, score: int, sent: float) -> None:
        with self._lock:
            self._sent.setdefault(score, sent)
            while len(self._sent) > self.KEEP:
                del self._sent[next(iter(self._sent))]

    def sent(self, score: int) -> float | None:
        with self._lock:
            return self._sent.get(score)

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()
