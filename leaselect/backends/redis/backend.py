"""The Redis backend: one key per election with a PX expiry, a fencing counter, push wake-ups.

Acquire is one Lua script: ``SET NX PX`` of ``<prefix>{name}:lease`` to ``nonce|token|payload``
with the token from ``INCR <prefix>{name}:token`` (never expires). The nonce (16 random bytes,
new each tenure) is the capability renew and release compare. A candidate that loses registers
in ``<prefix>{name}:waiters`` and waits, for at most the holder's PTTL, for a push to its own
wake list (the backend's one blocking connection watches every waiter's list: ``wakes``);
a release hands the lease to one waiter and pushes the grant to its list, so the next leader
needs no round trip of its own. One script renews every lease (and waiter
registration) of a session in one round trip. See ``scripts`` for the keys.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import redis

from ...backend import Backend, Candidacy, Grant, Renewal, Session, Waiting
from ...errors import BackendUnavailable, ConfigError, LeaselectError
from ...leader_feed import LeaderFeed
from ...lease import Leader, LostReason
from ...logfields import store_log
from ...urls import StoreUrl
from .client import (
    MAX_BLOCK,
    RedisSettings,
    check_eviction,
    make_pools,
    mapped_errors,
    settings,
)
from .feed import RedisLeaderFeed
from .scripts import ACQUIRE, ADVANCE_MARK, KEEP_ALIVE, RELEASE
from .wakes import Wakes

log = store_log("redis")

MIN_TTL = 0.01
WAKE_MS = 60_000  # an unconsumed wake-up vanishes after this
ERROR_BACKOFF = 0.5  # seconds a wait whose watch failed (store unreachable) backs off


class RedisBackend(Backend):
    """``redis://[user:password@]host:port/db[?prefix=leaselect:&timeout=3&allow_eviction=0]``.

    Also ``rediss://`` (TLS; redis-py's ``ssl_*`` query options) and ``unix:///path.sock``.
    The password may come from ``LEASELECT_REDIS_PASSWORD`` or ``REDIS_PASSWORD`` instead.
    """

    scheme = "redis"
    max_ttl = 9.2e12  # SET PX: the expiry in ms (now + ttl) must fit a signed 64-bit integer

    def __init__(self, conf: RedisSettings) -> None:
        super().__init__()
        self.conf = conf
        self.prefix = conf.prefix
        self.closed = False
        self._untold = False  # warned that watches cannot be told
        self._checked = False  # the server's eviction policy, once, at the first request
        pool, blocking_pool = make_pools(conf)
        self.client = redis.Redis(connection_pool=pool)
        self.blocking_pool = blocking_pool
        self.acquire_script = self.client.register_script(ACQUIRE)
        self.release_script = self.client.register_script(RELEASE)
        self.keep_alive_script = self.client.register_script(KEEP_ALIVE)
        self.advance_mark_script = self.client.register_script(ADVANCE_MARK)
        self.wakes = Wakes(self.client, blocking_pool, self.prefix, conf.redacted)

    @classmethod
    def from_url(cls, url: StoreUrl) -> RedisBackend:
        return cls(settings(url))

    @contextmanager
    def talking(self) -> Iterator[None]:
        """Around every Redis call: refuse once closed, and map redis-py's errors."""
        if self.closed:
            raise BackendUnavailable(f"the redis backend {self.conf.redacted!r} is closed")
        with mapped_errors(self.conf.redacted):
            if not self._checked:
                check_eviction(self.client, self.conf)
                self._checked = True
            yield

    def check_ttl(self, ttl: float) -> None:
        if not math.isfinite(ttl) or ttl < MIN_TTL:
            raise ConfigError(f"the redis backend needs a finite ttl >= {MIN_TTL:g}s, got {ttl!r}")

    def key(self, name: str, part: str) -> str:
        """The key ``part`` (lease, token, waiters, wake:) of election ``name``."""
        return f"{self.prefix}{{{name}}}:{part}"

    def observe(self, name: str) -> Leader | None:
        with self.talking():
            pipe = self.client.pipeline(transaction=False)
            pipe.get(self.key(name, "lease"))
            pipe.pttl(self.key(name, "lease"))
            value, pttl = pipe.execute()
        if value is None or pttl < 0:
            return None
        _nonce, token, payload = value.decode().split("|", 2)
        record = json.loads(payload)
        return Leader(record["i"], int(token), record["m"], pttl / 1000)

    def expire_lease(self, name: str) -> bool:
        key = self.key(name, "lease")
        with self.talking():
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.publish(key, 0)
            deleted, _listeners = pipe.execute()
        return bool(deleted)

    def leader_feed(self, names: Sequence[str]) -> LeaderFeed:
        return RedisLeaderFeed(self, names)

    def untold(self) -> None:
        """A script could not publish a change (the ACL denies PUBLISH): say so once."""
        if not self._untold:
            self._untold = True
            log.warning(
                "redis %s: this user may not PUBLISH on the lease channels (%s{NAME}:lease), so "
                "leader watches are not told of changes; grant +publish and those channels",
                self.conf.redacted,
                self.prefix,
            )

    def advance_mark(self, name: str, mark: str, value: int, token: int) -> bool:
        with self.talking():
            args: list[str | int] = [mark, value, token]
            return bool(self.advance_mark_script(keys=[self.key(name, "marks")], args=args))

    def _open_session(self, ttl: float) -> Session:
        return RedisSession(self, ttl)

    def _close(self) -> None:
        self.closed = True
        self.wakes.stop()
        self.client.connection_pool.disconnect()
        self.blocking_pool.disconnect()  # ends the wake-up BLPOP in flight
        self.wakes.join(self.conf.timeout)

    def __repr__(self) -> str:
        return f"RedisBackend({self.conf.redacted!r}, prefix={self.prefix!r})"


class RedisSession(Session):
    """Leases of one TTL; ``keep_alive`` renews them all with one script call."""

    def __init__(self, backend: RedisBackend, ttl: float) -> None:
        super().__init__(ttl)
        self.backend = backend
        self.ttl_ms = max(1, round(ttl * 1000))
        self.granted = self.ttl_ms / 1000  # what PX grants: whole milliseconds

    def candidacy(self, name: str, identity: str, metadata: str) -> Candidacy:
        return RedisCandidacy(self, name, identity, metadata)

    def keep_alive(self, held: Sequence[Candidacy], sent: float) -> list[Renewal]:
        mine: list[RedisCandidacy] = [c for c in held if isinstance(c, RedisCandidacy)]
        keys: list[str] = []
        args: list[str | int] = [self.ttl_ms]
        asked = [c.renewing() for c in mine]
        for c, nonce in zip(mine, asked, strict=True):
            keys += [c.keys.lease, c.keys.waiters]
            args += [nonce, c.waiter_id]
        with self.backend.talking():
            codes = self.backend.keep_alive_script(keys=keys, args=args)
        return [
            c.renewed(int(code), nonce, self.granted, sent)
            for c, nonce, code in zip(mine, asked, codes, strict=True)
        ]


class _Keys:
    """The keys of one election, as one candidacy uses them."""

    def __init__(self, backend: RedisBackend, name: str, waiter_id: str) -> None:
        self.lease = backend.key(name, "lease")
        self.token = backend.key(name, "token")
        self.waiters = backend.key(name, "waiters")
        self.cands = backend.key(name, "cands")
        self.wake_prefix = backend.key(name, "wake:")
        self.wake = self.wake_prefix + waiter_id


class RedisCandidacy(Candidacy):
    """One process's place in one Redis election."""

    def __init__(self, session: RedisSession, name: str, identity: str, metadata: str) -> None:
        super().__init__(name, identity, metadata)
        self.session = session
        self.backend = session.backend
        self.waiter_id = secrets.token_hex(8)
        self.keys = _Keys(self.backend, name, self.waiter_id)
        self.nonce = secrets.token_hex(16)
        self.leading = False
        self._payload = json.dumps({"i": identity, "m": metadata}, separators=(",", ":"))
        self._wake_by = 0.0  # time.monotonic() before which the holder's key cannot expire
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
        asked = time.monotonic()
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
            timeout = min(timeout, self._wake_by - time.monotonic() + 0.001)
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
            timeout = min(timeout, self._wake_by - time.monotonic() + 0.001)
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
