"""The etcd v3 backend: etcd's election recipe over the gRPC gateway (HTTP/JSON, via etcd3gw).

Each candidate puts ``<prefix>/<name>/<lease hex>-<nonce>`` bound to its session's lease, in a
transaction that creates it only if absent. The leader is the key with the lowest create
revision, and that revision is the fencing token (strictly increasing across the cluster). A
waiter watches only the key just before its own for a DELETE, then campaigns again. One lease
and one keep-alive per session, shared by every elector of the process with that TTL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from ...backend import Backend, Session
from ...clock import Clock
from ...errors import BackendUnavailable, ConfigError
from ...leader_feed import LeaderFeed
from ...lease import Leader
from ...logfields import store_log
from ...urls import StoreUrl
from .deletes import DeleteFeed
from .feed import EtcdLeaderFeed
from .session import EtcdSession
from .transport import (
    DEFAULT_BUDGET,
    Json,
    TooManyOps,
    Transport,
    b64,
    by_create,
    candidates,
    seconds_left,
    unb64,
)

DEFAULT_PREFIX = "/leaselect"
MARK_ATTEMPTS = 8  # compare-and-swap rounds of advance_mark before giving up
MIN_TTL = 1.0
MAX_TXN_OPS = 128  # etcd's default --max-txn-ops: compares and operations per transaction

log = store_log("etcd")


class EtcdBackend(Backend):
    """``etcd://host:port[,host:port...][?prefix=/leaselect&timeout=2]``; ``etcds://`` for TLS."""

    scheme = "etcd"
    max_ttl = 9_000_000_000.0  # etcd's MaxLeaseTTL

    def __init__(self, transport: Transport, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__()
        self.transport = transport
        self.prefix = prefix.rstrip("/")
        self.max_txn_ops = MAX_TXN_OPS  # halved if the server's limit turns out lower
        self.deletes = DeleteFeed(transport, self.prefix)  # the parked waiters' one stream

    @property
    def clock(self) -> Clock:
        """The adapter's one clock, injected with its transport: every deadline, and the
        waiters' expiry proof, which needs a clock that counts through a host suspend
        (``CLOCK_BOOTTIME``, the default)."""
        return self.transport.clock

    @classmethod
    def from_url(cls, url: StoreUrl) -> EtcdBackend:
        prefix = url.options.get("prefix", DEFAULT_PREFIX)
        if not prefix.startswith("/") or not prefix.strip("/") or not prefix.isprintable():
            raise ConfigError(f"etcd prefix must look like /name, got {prefix!r}")
        return cls(Transport(url, url.number("timeout", DEFAULT_BUDGET)), prefix)

    def check_ttl(self, ttl: float) -> None:
        if ttl < MIN_TTL:
            raise ConfigError(
                f"the etcd backend needs ttl >= {MIN_TTL:g}s (etcd leases are whole seconds), "
                f"got {ttl!r}"
            )

    def election_prefix(self, name: str) -> str:
        """The directory of election ``name``'s candidate keys."""
        return f"{self.prefix}/{name}/"

    def leader_key(self, name: str, token: int) -> str | None:
        """Our leader key of election ``name`` while this process leads it with ``token``, else
        None: what ``leaselect.fencing.EtcdFence`` guards a write with."""
        with self._sessions_lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            key = session.leader_key(name, token) if isinstance(session, EtcdSession) else None
            if key is not None:
                return key
        return None

    def post(self, path: str, body: Json) -> Json:
        """One request to the cluster."""
        return self.transport.post(path, body)

    def txns(self, items: Sequence[Json], txn: Callable[[list[Json]], Json]) -> list[Json]:
        """The replies to ``txn(chunk)`` for consecutive chunks of ``items``, each within the
        server's limit of operations per transaction (etcd refuses a larger one whole)."""
        replies: list[Json] = []
        done = 0
        while done < len(items):
            size = self.max_txn_ops
            chunk = list(items[done : done + size])
            try:
                replies.append(self.post("kv/txn", txn(chunk)))
            except TooManyOps:
                if size == 1:
                    raise
                self.max_txn_ops = max(1, size // 2)
                log.warning(
                    "etcd refused %d operations in one transaction: using at most %d",
                    len(chunk),
                    self.max_txn_ops,
                )
                continue
            done += len(chunk)
        return replies

    def observe(self, name: str) -> Leader | None:
        directory = self.election_prefix(name)
        reply = self.post("kv/range", by_create(directory))
        kvs = candidates(directory, reply.get("kvs", []))
        if not kvs:
            return None
        kv = kvs[0]
        value = json.loads(unb64(kv.get("value", b64("{}"))))
        expires_in = None
        if kv.get("lease"):
            alive = self.post("lease/timetolive", {"ID": kv["lease"]})
            expires_in = float(seconds_left(alive))
            if expires_in < 0:
                return None
        return Leader(
            str(value.get("identity", "")),
            int(kv["create_revision"]),
            str(value.get("metadata", "")),
            expires_in,
        )

    def leader_feed(self, names: Sequence[str]) -> LeaderFeed:
        return EtcdLeaderFeed(self.transport, self.election_prefix, names)

    def expire_lease(self, name: str) -> bool:
        directory = self.election_prefix(name)
        kvs = candidates(directory, self.post("kv/range", by_create(directory)).get("kvs", []))
        if not kvs:
            return False
        deleted = self.post("kv/deleterange", {"key": kvs[0]["key"]})
        return int(deleted.get("deleted", 0)) > 0

    def advance_mark(self, name: str, mark: str, value: int, token: int) -> bool:
        # ``<prefix>/<name>:marks/<mark>`` (no election name has a colon), raised by a txn that
        # compares the mod revision just read: a concurrent writer makes it fail and we re-read
        key = f"{self.prefix}/{name}:marks/{mark}"
        put = {"request_put": {"key": b64(key), "value": b64(f"{token}|{value}")}}
        for _ in range(MARK_ATTEMPTS):
            kvs = self.post("kv/range", {"key": b64(key)}).get("kvs", [])
            if kvs:
                old_token, old_value = (int(x) for x in unb64(kvs[0]["value"]).split("|"))
                if old_token > token or old_value >= value:
                    return False
                revision = {"target": "MOD", "mod_revision": kvs[0]["mod_revision"]}
            else:
                revision = {"target": "CREATE", "create_revision": "0"}
            compare = {"key": b64(key), "result": "EQUAL", **revision}
            txn = {"compare": [compare], "success": [put], "failure": []}
            if self.post("kv/txn", txn).get("succeeded"):
                return True
        raise BackendUnavailable(f"mark {mark!r} of {name!r}: {MARK_ATTEMPTS} writers raced")

    def _open_session(self, ttl: float) -> Session:
        return EtcdSession(self, ttl)

    def _close(self) -> None:
        self.deletes.close()
        self.transport.close()

    def __repr__(self) -> str:
        return f"EtcdBackend({self.transport.describe()!r}, prefix={self.prefix!r})"
