"""The ZooKeeper backend: ``zk://host:port[,host:port...][/chroot][?root=/leaselect]``.

Each candidate holds an ephemeral sequential node under ``<root>/<name>/``; the lowest sequence
leads and its czxid is the fencing token. One ZooKeeper session per backend (shared by every
elector of the process) keeps every node alive; its timeout is the elector's TTL as negotiated
by the servers (2 to 20 ticks). SUSPENDED is jeopardy: nothing is renewed until the client is
CONNECTED again, and a lease resumes only if the session is the same one and our node is still
there with that session as its ephemeral owner. ``zks://`` uses TLS; digest credentials (URL or
``LEASELECT_ZK_USER``/``LEASELECT_ZK_PASSWORD``) make every node creator-only.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from ...backend import Backend, Session
from ...clock import SYSTEM_CLOCK, Clock
from ...errors import BackendUnavailable, ConfigError
from ...leader_feed import LeaderFeed
from ...lease import Leader
from ...logfields import store_log
from ...timing import Timing
from ...urls import StoreUrl
from .anchor import gap
from .client import ClientConfig, mapped_errors
from .connection import Connection
from .feed import ZooKeeperLeaderFeed
from .nodes import queue
from .proof import SLACK
from .session import ZooKeeperSession

log = store_log("zk")

MIN_TTL = 2.0
MAX_TTL = 40.0
MARK_ATTEMPTS = 8  # compare-and-swap rounds of advance_mark before giving up


class ZooKeeperBackend(Backend):
    """A ZooKeeper ensemble reached through one kazoo client."""

    scheme = "zk"
    max_ttl = MAX_TTL  # the servers' maxSessionTimeout may be lower: checked at connect

    def __init__(self, config: ClientConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__()
        self.conn = Connection(config, clock)  # its clock is the adapter's

    @classmethod
    def from_url(cls, url: StoreUrl) -> ZooKeeperBackend:
        return cls(ClientConfig.from_url(url))

    def check_ttl(self, ttl: float) -> None:
        if not MIN_TTL <= ttl <= MAX_TTL:
            raise ConfigError(
                f"the ZooKeeper backend needs {MIN_TTL:g}s <= ttl <= {MAX_TTL:g}s, got {ttl!r}: "
                "the ttl is the session timeout, which servers clamp to 2..20 ticks "
                "(minSessionTimeout/maxSessionTimeout; 4-40 s with the default tickTime=2000)"
            )
        for existing in list(self._sessions):
            if existing != ttl:
                raise ConfigError(
                    f"one ZooKeeper backend, one session timeout: this one uses {existing:g}s, "
                    f"not {ttl:g}s; open another backend"
                )

    def expire_lease(self, name: str) -> bool:
        client = self.conn.client()
        parent = f"{self.conn.config.root}/{name}"
        timeout = self.conn.config.connect_timeout
        with mapped_errors(f"expire {name!r}", self.conn.config.redacted):
            client.sync_async(parent).get(timeout=timeout)
            try:
                order = queue(client.get_children_async(parent).get(timeout=timeout))
                for child in order:
                    if self._given_up(f"{parent}/{child}"):
                        continue
                    try:
                        client.delete_async(f"{parent}/{child}").get(timeout=timeout)
                        return True
                    except NoNodeError:  # it just resigned: the next one leads
                        continue
            except NoNodeError:
                pass
        return False

    def leader_feed(self, names: Sequence[str]) -> LeaderFeed:
        return ZooKeeperLeaderFeed(self.conn, names)

    def observe(self, name: str) -> Leader | None:
        client = self.conn.client()
        parent = f"{self.conn.config.root}/{name}"
        timeout = self.conn.config.connect_timeout
        with mapped_errors(f"observe {name!r}", self.conn.config.redacted):
            client.sync_async(parent)  # a follower catches up with the leader first
            try:
                order = [
                    child
                    for child in queue(client.get_children_async(parent).get(timeout=timeout))
                    if not self._given_up(f"{parent}/{child}")
                ]
                while order:
                    try:
                        data, stat = client.get_async(f"{parent}/{order[0]}").get(timeout=timeout)
                    except NoNodeError:  # it just resigned: look at the next one
                        order.pop(0)
                        continue
                    fields = json.loads(data.decode())
                    return Leader(fields["identity"], int(stat.czxid), fields["metadata"], None)
            except NoNodeError:
                pass
        return None

    def leader_node(self, name: str, token: int) -> str | None:
        """Our node of election ``name`` while this process leads it with ``token``, else None:
        what ``leaselect.fencing.ZooKeeperFence`` guards a write with."""
        with self._sessions_lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            if isinstance(session, ZooKeeperSession):
                node = session.leader_node(name, token)
                if node is not None:
                    return node
        return None

    def _given_up(self, path: str) -> bool:
        """A node of this process's that its candidacy gave up (not yet deleted)."""
        with self._sessions_lock:
            sessions = list(self._sessions.values())
        return any(isinstance(s, ZooKeeperSession) and s.discarded(path) for s in sessions)

    def advance_mark(self, name: str, mark: str, value: int, token: int) -> bool:
        # a persistent ``<root>/<name>:marks/<mark>`` (beside the election's node, not in it),
        # raised by a versioned set: a concurrent or stale-read writer fails and re-reads
        client, timeout = self.conn.client(), self.conn.config.connect_timeout
        path, record = f"{self.conn.config.root}/{name}:marks/{mark}", f"{token}|{value}".encode()
        with mapped_errors(f"advance mark {mark!r} of {name!r}", self.conn.config.redacted):
            for _ in range(MARK_ATTEMPTS):
                try:
                    data, stat = client.get_async(path).get(timeout=timeout)
                except NoNodeError:
                    with contextlib.suppress(NodeExistsError):
                        client.create_async(path, record, makepath=True).get(timeout=timeout)
                        return True
                    continue
                old_token, old_value = (int(x) for x in data.decode().split("|"))
                if old_token > token or old_value >= value:
                    return False
                with contextlib.suppress(BadVersionError):
                    client.set_async(path, record, version=stat.version).get(timeout=timeout)
                    return True
        raise BackendUnavailable(f"mark {mark!r} of {name!r}: {MARK_ATTEMPTS} writers raced")

    def _open_session(self, ttl: float) -> Session:
        self.check_ttl(ttl)
        self.conn.client(ttl)
        granted = self.conn.negotiated
        if granted < ttl:
            try:
                Timing(granted, renew_interval=ttl / 3)
            except ConfigError as exc:
                raise ConfigError(
                    f"ttl {ttl:g}s is above the ZooKeeper servers' maxSessionTimeout: they "
                    f"granted {granted:g}s, too short to keep the lease ({exc}); raise "
                    "maxSessionTimeout or lower the ttl"
                ) from None
            log.warning(
                "ZooKeeper %s: ttl %gs is above the servers' maxSessionTimeout: the lease uses "
                "the %gs they granted, renewed every %gs",
                self.conn.config.redacted,
                ttl,
                granted,
                ttl / 3,
            )
        proof = gap(self.conn.tick) + SLACK
        if proof > granted / 6:
            raise ConfigError(
                f"ttl {ttl:g}s (granted {granted:g}s) is too short for an ensemble with tickTime "
                f"{self.conn.tick * 1000:g} ms: proving a renewal takes a tick, which must fit "
                f"in half a renew interval; use ttl >= {6 * proof:.1f}s (or set tick_time=<ms> "
                "in the URL if the ensemble's tick is shorter)"
            )
        return ZooKeeperSession(self.conn, ttl)

    def _close(self) -> None:
        self.conn.close()

    def __repr__(self) -> str:
        return f"ZooKeeperBackend({self.conn.config.redacted!r})"
