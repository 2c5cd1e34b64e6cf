"""A session of the etcd backend: one lease and its keep-alive, shared by the candidacies of one
TTL, and the keys they gave up (deleted before the lease is extended again)."""

from __future__ import annotations

import contextlib
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Protocol

from ...backend import Candidacy, Renewal, Session
from ...errors import LeaselectError
from ...lease import LostReason
from ...logfields import store_log
from ...signalmask import start_quiet
from ...urls import redact
from .candidacy import EtcdCandidacy, Tenure
from .cluster import Cluster
from .transport import Json, LeaseNotFound, b64, granted_seconds, same_revision

log = store_log("etcd")

SWEEP_RETRY_FIRST, SWEEP_RETRY_MAX = 0.1, 1.0  # seconds between retries of a failed delete
SWEEP_TTLS = 3  # after this many TTLs the lease of a forsaken key has surely ended


class Store(Cluster, Protocol):
    """What a session uses of its backend (``EtcdBackend``): a candidacy's needs, and chunked
    transactions."""

    def txns(self, items: Sequence[Json], txn: Callable[[list[Json]], Json]) -> list[Json]: ...


class EtcdSession(Session):
    """One etcd lease and its keep-alive, shared by the candidacies of one TTL."""

    def __init__(self, backend: Store, ttl: float) -> None:
        super().__init__(ttl)
        self.backend = backend
        self._lock = threading.Lock()
        self._granting = threading.Lock()  # held across a grant (never inside ``_lock``)
        self._lease: int | None = None
        self._granted = 0.0
        self._anchor = 0.0
        self._members: weakref.WeakSet[EtcdCandidacy] = weakref.WeakSet()
        self._orphans: set[str] = set()  # keys we gave up whose delete has not succeeded yet
        self._sweeper: threading.Thread | None = None  # retries a failed delete of those
        self._sweeping_ends = threading.Event()  # set by close()

    def candidacy(self, name: str, identity: str, metadata: str) -> Candidacy:
        candidacy = EtcdCandidacy(self, name, identity, metadata)
        with self._lock:
            self._members.add(candidacy)
        return candidacy

    def leader_key(self, name: str, token: int) -> str | None:
        """The key of the candidacy that leads ``name`` with ``token``, if one of ours does."""
        with self._lock:
            members = list(self._members)
        for member in members:
            tenure = member.tenure()
            if member.name == name and tenure is not None and tenure.token == token:
                return tenure.key
        return None

    def lease(self, sent: float) -> tuple[int, float, float]:
        """(lease id, granted TTL, anchor) of a live lease, granting one if needed (one grant
        at a time: concurrent first campaigns share it)."""
        with self._granting:
            with self._lock:
                if self._lease is not None:
                    return self._lease, self._granted, self._anchor
            reply = self.backend.post("lease/grant", {"TTL": str(math.ceil(self.ttl))})
            with self._lock:
                self._lease, self._granted, self._anchor = (
                    int(reply["ID"]),
                    float(reply["TTL"]),
                    sent,
                )
                return self._lease, self._granted, self._anchor

    def lease_gone(self, lease: int) -> None:
        """etcd dropped ``lease``: forget it and wake every waiting candidacy to re-register."""
        with self._lock:
            if self._lease != lease:
                return
            self._lease = None
            members = list(self._members)
        for member in members:
            member.interrupt()

    def keep_alive(self, held: Sequence[Candidacy], sent: float) -> list[Renewal]:
        with self._lock:
            lease = self._lease
        ours: list[EtcdCandidacy] = list(held)  # type: ignore[arg-type]
        # what each candidacy led with when we asked: an answer counts only for that tenure
        asked = [c.tenure() for c in ours]
        if lease is None:
            return [c.lost(t, LostReason.EXPIRED) for c, t in zip(ours, asked, strict=True)]
        ttl = self.refresh(lease, sent)
        if ttl <= 0:
            return [c.lost(t, LostReason.EXPIRED) for c, t in zip(ours, asked, strict=True)]
        gone = _vanished(self.backend, [t for t in asked if t is not None and t.lease == lease])
        return [_renewal(c, t, lease, ttl, gone) for c, t in zip(ours, asked, strict=True)]

    def forsake(self, key: str) -> None:
        """Delete ``key`` (ours, given up), now or before any later refresh of the lease.

        The key is bound to the shared lease, which other elections of this session keep
        alive: until the delete succeeds, ``refresh`` refuses to extend the lease, so the key
        outlives its use by one lease TTL at most (``BackendUnavailable`` if not deleted now;
        then ``_sweep_later`` retries it).
        While the backend closes, the lease's revoke deletes every such key in one request.
        """
        with self._lock:
            self._orphans.add(key)
        if self.closing:  # the revoke of the lease deletes it with all the others
            return
        try:
            self.sweep()
        except LeaselectError:
            self._sweep_later()
            raise

    def _sweep_later(self) -> None:
        """Retry the delete of the forsaken keys in the background (one thread per session, only
        while a delete fails): a release whose delete failed (etcd's leader died, the network
        dropped it) then hands over as soon as etcd answers again, not when the lease the key
        is bound to runs out (which a new etcd leader extends by a whole TTL)."""
        with self._lock:
            if self._sweeper is not None or self._sweeping_ends.is_set():
                return
            self._sweeper = threading.Thread(
                target=self._sweep_until_done, name="leaselect-etcd-sweep", daemon=True
            )
            start_quiet(self._sweeper)

    def _sweep_until_done(self) -> None:
        clock = self.backend.clock
        pause, until = SWEEP_RETRY_FIRST, clock.now() + SWEEP_TTLS * self.ttl
        while not self._sweeping_ends.wait(pause):
            if self.closing or clock.now() > until:
                break  # the revoke deletes them, or the lease has ended: they are gone
            try:
                self.sweep()
            except LeaselectError as exc:
                log.debug("deleting forsaken keys failed again: %s", redact(str(exc)))
                pause = min(2 * pause, SWEEP_RETRY_MAX)
                continue
            with self._lock:
                if not self._orphans:  # under the lock: a forsake now starts a new thread
                    self._sweeper = None
                    return
        with self._lock:
            self._sweeper = None

    def sweep(self) -> None:
        """Delete every forsaken key in one transaction; raise if that fails."""
        with self._lock:
            orphans = sorted(self._orphans)
        if not orphans:
            return
        deletes = [{"request_delete_range": {"key": b64(key)}} for key in orphans]
        self.backend.txns(deletes, lambda chunk: {"compare": [], "success": chunk})
        with self._lock:
            self._orphans.difference_update(orphans)

    def refresh(self, lease: int, sent: float) -> float:
        """One keep-alive of ``lease`` sent at ``sent``: the granted TTL, or 0 if it is gone.

        Forsaken keys are deleted first: the lease is never extended while one may live.
        """
        self.sweep()
        try:
            ttl = float(granted_seconds(self.backend.post("lease/keepalive", {"ID": str(lease)})))
        except LeaseNotFound:
            ttl = 0.0
        if ttl <= 0:
            self.lease_gone(lease)
            return 0.0
        with self._lock:
            if self._lease == lease and sent > self._anchor:
                self._granted, self._anchor = ttl, sent
        return ttl

    def close(self) -> None:
        with self._lock:
            lease, self._lease = self._lease, None
            self._orphans.clear()  # the revoke deletes them; if it fails they expire with it
            self._sweeping_ends.set()
            sweeper = self._sweeper
        if sweeper is not None and sweeper is not threading.current_thread():
            sweeper.join(self.backend.transport.budget + 1)
        if lease is not None:
            self._revoke(lease)

    def _revoke(self, lease: int) -> None:
        with contextlib.suppress(LeaselectError):  # it expires by itself within its TTL
            self.backend.post("lease/revoke", {"ID": str(lease)})


def _renewal(
    c: EtcdCandidacy, asked: Tenure | None, lease: int, ttl: float, gone: set[Tenure]
) -> Renewal:
    if asked is None or c.tenure() != asked:
        return Renewal(None, None)  # it did not lead when asked, or leads another tenure now
    if asked.lease != lease:
        return c.lost(asked, LostReason.EXPIRED)  # it led on an earlier lease of this session
    if asked in gone:
        return c.lost(asked, LostReason.TAKEN)
    return Renewal(ttl, None)


def _vanished(backend: Store, leaders: list[Tenure]) -> set[Tenure]:
    """The tenures whose key no longer has their create revision (one transaction)."""
    if not leaders:
        return set()
    compare = [same_revision(t.key, t.token) for t in leaders]
    replies = backend.txns(compare, lambda chunk: {"compare": chunk, "success": [], "failure": []})
    if all(reply.get("succeeded") for reply in replies):
        return set()
    gone = set()
    for tenure in leaders:
        check = backend.post("kv/txn", {"compare": [same_revision(tenure.key, tenure.token)]})
        if not check.get("succeeded"):
            gone.add(tenure)
    return gone
