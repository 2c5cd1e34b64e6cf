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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import redis

from ...backend import Backend, Candidacy, Renewal, Session
from ...clock import SYSTEM_CLOCK, Clock
from ...errors import BackendUnavailable, ConfigError
from ...leader_feed import LeaderFeed
from ...lease import Leader
from ...logfields import store_log
from ...urls import StoreUrl
from .candidacy import RedisCandidacy
from .client import (
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


class RedisBackend(Backend):
    """``redis://[user:password@]host:port/db[?prefix=leaselect:&timeout=3&allow_eviction=0]``.

    Also ``rediss://`` (TLS; redis-py's ``ssl_*`` query options) and ``unix:///path.sock``.
    The password may come from ``LEASELECT_REDIS_PASSWORD`` or ``REDIS_PASSWORD`` instead.
    """

    scheme = "redis"
    max_ttl = 9.2e12  # SET PX: the expiry in ms (now + ttl) must fit a signed 64-bit integer

    def __init__(self, conf: RedisSettings, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__()
        self.conf = conf
        self.clock = clock  # every time the adapter reads (a holder's expiry, a wake-up's age)
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
        self.wakes = Wakes(self.client, blocking_pool, self.prefix, conf.redacted, clock)

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
