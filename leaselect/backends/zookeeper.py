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
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from ..backend import Backend, Candidacy, Renewal, Session
from ..clock import SYSTEM_CLOCK
from ..errors import BackendUnavailable, ConfigError
from ..lease import Leader, LostReason
from ..timing import Timing
from ..urls import StoreUrl
from .zookeeper_candidacy import ZooKeeperCandidacy, queue
from .zookeeper_client import ClientConfig, Connection, mapped_errors

MIN_TTL = 2.0
MAX_TTL = 40.0
MARK_ATTEMPTS = 8  # compare-and-swap rounds of advance_mark before giving up
PING_GRACE = 0.05  # seconds a keep-alive waits for a ping answer in flight


class ZooKeeperBackend(Backend):
    """A ZooKeeper ensemble reached through one kazoo client."""

    scheme = "zk"
    max_ttl = MAX_TTL  # the servers' maxSessionTimeout may be lower: checked at connect

    def __init__(self, config: ClientConfig) -> None:
        super().__init__()
        self.conn = Connection(config)

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

    def observe(self, name: str) -> Leader | None:
        client = self.conn.client()
        parent = f"{self.conn.config.root}/{name}"
        timeout = self.conn.config.connect_timeout
        with mapped_errors(f"observe {name!r}", self.conn.config.redacted):
            client.sync_async(parent)  # a follower catches up with the leader first
            try:
                order = queue(client.get_children_async(parent).get(timeout=timeout))
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
                    f"ZooKeeper granted a {granted:g}s session timeout for ttl {ttl:g}s, too "
                    f"short to keep the lease ({exc}); raise the servers' maxSessionTimeout "
                    "or lower the ttl"
                ) from None
        return ZooKeeperSession(self, ttl)

    def _close(self) -> None:
        self.conn.close()

    def __repr__(self) -> str:
        return f"ZooKeeperBackend({self.conn.config.redacted!r})"


class ZooKeeperSession(Session):
    """The backend's ZooKeeper session: one keep-alive checks every leading node at once."""

    def __init__(self, backend: ZooKeeperBackend, ttl: float) -> None:
        super().__init__(ttl)
        self.conn = backend.conn
        self.request_timeout = ttl / 3
        self._candidacies: weakref.WeakSet[ZooKeeperCandidacy] = weakref.WeakSet()
        self._last: tuple[int, float] = (0, 0.0)  # session id, send time of its last success
        self._evidence = 0.0  # SYSTEM_CLOCK: no ping sent before this proves anything new
        self._lock = threading.Lock()
        self.conn.on_change(self._wake_all)

    def candidacy(self, name: str, identity: str, metadata: str) -> Candidacy:
        candidacy = ZooKeeperCandidacy(self, name, identity, metadata)
        self._candidacies.add(candidacy)
        return candidacy

    def live(self) -> tuple[Any, int]:
        """The client and its session id; ``BackendUnavailable`` while SUSPENDED (jeopardy)."""
        client = self.conn.client(self.ttl)
        sid = self.conn.session_id()
        if sid is None:
            raise BackendUnavailable(
                f"ZooKeeper {self.conn.config.redacted}: connection suspended, reconnecting"
            )
        return client, sid

    def round_trip(self, sid: int, sent: float) -> None:
        """A request of session ``sid`` sent at ``sent`` succeeded."""
        with self._lock:
            if self._last[0] != sid or sent > self._last[1]:
                self._last = (sid, sent)

    def last_round_trip(self, sid: int) -> float | None:
        """When the last successful request of session ``sid`` was sent, if known."""
        with self._lock:
            return self._last[1] if self._last[0] == sid else None

    def result(self, pending: Any, what: str) -> Any:
        """Wait for one pipelined request, mapping kazoo's errors."""
        with mapped_errors(what, self.conn.config.redacted):
            return pending.get(timeout=self.request_timeout)

    def keep_alive(self, held: Sequence[Candidacy], sent: float) -> list[Renewal]:
        """kazoo's last ping if it proves every leading node, else one pipelined ``exists`` per
        leading node (which also sets the watch the ping evidence needs)."""
        leaders = [c for c in held if isinstance(c, ZooKeeperCandidacy) and c.leading]
        renewals = {id(c): Renewal(None, None) for c in held}
        if leaders:
            client, sid = self.live()
            mine = [c for c in leaders if c.owner == sid]
            for candidacy in leaders:
                if candidacy.owner != sid:
                    renewals[id(candidacy)] = self._lost(candidacy, LostReason.EXPIRED)
            if mine:
                anchor = self._ping_anchor(client, sid, mine, sent)
                renewals.update(
                    {id(c): Renewal(self.conn.negotiated, None, anchor) for c in mine}
                    if anchor is not None
                    else self._check(client, sid, mine, sent)
                )
        return [renewals[id(c)] for c in held]

    def _ping_anchor(
        self, client: Any, sid: int, leaders: list[ZooKeeperCandidacy], sent: float
    ) -> float | None:
        """The send time, on the keeper's clock, of an answered ping newer than our last
        evidence and sent after the watch on every leading node was set; None if there is none.

        Such a ping proves what an ``exists`` would: the server touched the session no earlier
        than its send, and it sends a watch event before any later answer on the connection.
        Using it instead of our own request leaves the session's touches to kazoo's pings.
        """
        floor = self._evidence
        for candidacy in leaders:
            armed = candidacy.armed_since(client)
            if armed is None:
                return None
            floor = max(floor, armed)
        # kazoo pings at most a third of the timeout after its last send, just before we are
        # due; give an answer still in flight a moment before sending a request of our own
        pinged = self.conn.last_ping(sid, floor, PING_GRACE)
        if pinged is None or pinged <= floor:
            return None
        age = SYSTEM_CLOCK.now() - pinged
        if age > self.ttl / 3:
            return None
        self._evidence = pinged
        return sent - age

    def _check(
        self, client: Any, sid: int, leaders: list[ZooKeeperCandidacy], sent: float
    ) -> dict[int, Renewal]:
        checks = [(c, c.check_own(client)) for c in leaders]
        renewals = {}
        for candidacy, check in checks:
            stat = self.result(check, "keep-alive")
            if stat is not None and stat.ephemeralOwner == sid:
                candidacy.armed(candidacy.path)
                renewals[id(candidacy)] = Renewal(self.conn.negotiated)
            else:
                renewals[id(candidacy)] = self._lost(candidacy, self._why_gone(sid))
        self.round_trip(sid, sent)
        self._evidence = max(self._evidence, SYSTEM_CLOCK.now())
        return renewals

    def _why_gone(self, sid: int) -> LostReason:
        """Our node is gone: with our session (expired) or deleted by someone (taken)."""
        return LostReason.TAKEN if self.conn.session_id() == sid else LostReason.EXPIRED

    @staticmethod
    def _lost(candidacy: ZooKeeperCandidacy, reason: LostReason) -> Renewal:
        candidacy.leading = False
        return Renewal(None, reason)

    def _wake_all(self) -> None:
        """A connection state change: every candidacy campaigns again, and a leader's next
        keep-alive checks its node with an ``exists`` (the resume check after a reconnect;
        kazoo also drops every watch when a connection is lost and does not set them again)."""
        for candidacy in list(self._candidacies):
            candidacy.disarm()
            candidacy.wake()
