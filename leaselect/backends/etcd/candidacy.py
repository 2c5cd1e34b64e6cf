"""One process's candidacy in one etcd election: register, wait for the predecessor, resign."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ...backend import Candidacy, Grant, Renewal, Waiting
from ...clock import Clock
from ...errors import LeaselectError
from ...lease import LostReason
from ...logfields import store_log
from .deletes import DeleteFeed, DeleteInterest
from .expiry import ExpiryProbe
from .transport import (
    Json,
    LeaseNotFound,
    Transport,
    b64,
    by_create,
    candidates,
    same_revision,
    seconds_left,
    unb64,
)
from .watch import DeleteWatch

log = store_log("etcd")


class Cluster(Protocol):
    """What a candidacy uses of its backend (``EtcdBackend``)."""

    @property
    def transport(self) -> Transport: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def deletes(self) -> DeleteFeed: ...
    @property
    def owned(self) -> dict[tuple[str, int], str]: ...
    def election_prefix(self, name: str) -> str: ...
    def post(self, path: str, body: Json) -> Json: ...


class SharedLease(Protocol):
    """What a candidacy uses of its session (``EtcdSession``): the lease its key is bound to."""

    @property
    def ttl(self) -> float: ...
    @property
    def backend(self) -> Cluster: ...
    def lease(self, sent: float) -> tuple[int, float, float]: ...
    def refresh(self, lease: int, sent: float) -> float: ...
    def lease_gone(self, lease: int) -> None: ...
    def forsake(self, key: str) -> None: ...


@dataclass(frozen=True)
class Tenure:
    """What a leading candidacy leads with: a keep-alive's answer applies to this alone."""

    lease: int
    key: str
    token: int


@dataclass(frozen=True)
class _Predecessor:
    """The key just before ours: watched for its delete; if it leads, its lease is probed."""

    key: str
    watch_from: int  # the revision after the listing that found it
    create_revision: int
    lease: int
    leads: bool


class EtcdCandidacy(Candidacy):
    """One process's key in one election."""

    def __init__(self, session: SharedLease, name: str, identity: str, metadata: str) -> None:
        super().__init__(name, identity, metadata)
        self.session = session
        self.backend = session.backend
        self.nonce = secrets.token_hex(4)
        self.key = ""
        self.lease: int | None = None
        self.token = 0
        self.leading = False
        self._predecessor: _Predecessor | None = None
        # a leading predecessor seen deleted, and the revision of its delete
        self._vacated: tuple[_Predecessor, int] | None = None
        self._expiry: ExpiryProbe | None = None  # of the leader's lease, while we are next
        self._since: float | None = None  # sent of our first campaign since (re)joining
        self._watch = DeleteWatch(self.backend.transport, self.backend.clock)
        # a parked wait (see park): its resume, its interest with the backend's feed
        self._park_lock = threading.Lock()
        self._resume: Callable[[], None] | None = None
        self._interest: DeleteInterest | None = None
        self._interrupted = False  # an interrupt no parked wait took yet
        self._probe_now = False  # the parked wait's time limit came: a probe may be due

    def campaign(self, sent: float) -> Grant | Waiting:
        if self._since is None:
            self._since = sent
        if self._probe_due():  # a parked wait's time limit: probe the leader's lease only
            predecessor = self._predecessor
            if predecessor is not None and not self._probe(predecessor):
                return Waiting(None)  # not expired: the same wait again, no read
        # the predecessor's delete counts for this campaign only: one that fails (a refresh
        # that raises) leaves the next to read the queue
        vacated, self._vacated = self._vacated, None
        for _ in range(2):
            lease, ttl, anchor = self.session.lease(sent)
            if anchor < self._since - self.session.ttl / 6:
                # The keeper's schedule for us began at _since; an older anchor would put us
                # in jeopardy before its first renewal, so refresh the shared lease now.
                if self.session.refresh(lease, sent) <= 0:
                    continue
                lease, ttl, anchor = self.session.lease(sent)
            try:
                return self._register(lease, ttl, anchor, vacated)
            except LeaseNotFound:
                self.session.lease_gone(lease)
        return Waiting(None)

    def _register(
        self, lease: int, ttl: float, anchor: float, vacated: tuple[_Predecessor, int] | None
    ) -> Grant | Waiting:
        if self.lease != lease:  # a new lease: our key (bound to the old one) is gone
            vacated = None
            self.lease, self.key = (
                lease,
                f"{self.backend.election_prefix(self.name)}{lease:x}-{self.nonce}",
            )
        if vacated is not None and vacated[0] == self._predecessor and self.token:
            return self._lead(ttl, anchor)  # docs/etcd.md: "Handover without a read"
        queue, revision = self._queue() if self.token else ([], 0)
        keys = [unb64(kv["key"]) for kv in queue]
        if self.key not in keys:  # not registered yet, or our key is gone: (re-)create it
            reply = self.backend.post("kv/txn", self._register_txn(lease))
            directory = self.backend.election_prefix(self.name)
            queue = candidates(directory, reply["responses"][-1]["response_range"].get("kvs", []))
            keys, revision = [unb64(kv["key"]) for kv in queue], int(reply["header"]["revision"])
            if self.key not in keys:
                raise LeaseNotFound("our key vanished with the lease")
        index = keys.index(self.key)
        self.token = int(queue[index]["create_revision"])
        if index == 0:
            return self._lead(ttl, anchor)
        before = queue[index - 1]
        predecessor = _Predecessor(
            keys[index - 1],
            revision + 1,
            int(before["create_revision"]),
            int(before.get("lease", 0)),
            index == 1,
        )
        if predecessor != self._predecessor:
            self._predecessor, self._expiry = predecessor, None
        return Waiting(None)

    def _lead(self, ttl: float, anchor: float) -> Grant:
        self.leading = True
        self._predecessor = None
        self.backend.owned[(self.name, self.token)] = self.key
        return Grant(self.token, ttl, anchor)

    def _queue(self) -> tuple[list[Json], int]:
        """Every candidate key of this election by create revision: a read, no raft write."""
        directory = self.backend.election_prefix(self.name)
        reply = self.backend.post("kv/range", {**by_create(directory), "keys_only": True})
        return candidates(directory, reply.get("kvs", [])), int(reply["header"]["revision"])

    def _register_txn(self, lease: int) -> Json:
        value = json.dumps({"identity": self.identity, "metadata": self.metadata})
        queue = {
            "request_range": {
                **by_create(self.backend.election_prefix(self.name)),
                "keys_only": True,
            }
        }
        put = {"request_put": {"key": b64(self.key), "value": b64(value), "lease": str(lease)}}
        return {
            "compare": [
                {
                    "key": b64(self.key),
                    "target": "CREATE",
                    "result": "EQUAL",
                    "create_revision": "0",
                }
            ],
            "success": [put, queue],
            "failure": [queue],
        }

    def wait(self, waiting: Waiting, timeout: float) -> None:
        """Watch the predecessor's key; if it leads, also take its key once its lease expired.

        etcd revokes expired leases only every 500 ms, so the first waiter proves the expiry
        itself (``ExpiryProbe``) and deletes the leader key, never the lease: the lease may hold
        the crashed process's other elections, and only this key is known to be stale.
        """
        predecessor = self._predecessor
        if predecessor is None:
            return
        clock = self.backend.clock
        deadline = clock.now() + timeout
        while True:
            now = clock.now()
            due = deadline
            probe_at = self._next_probe(predecessor, now)
            if probe_at is not None:
                due = min(due, probe_at)
            own = self.key if predecessor.leads else ""  # then watched too: see _register
            if self._watch.wait(predecessor.key, predecessor.watch_from, due - now, own):
                deleted = self._watch.deleted
                if deleted is not None and predecessor.leads:
                    self._vacated = (predecessor, deleted)
                return
            if clock.now() >= deadline or self._probe(predecessor):
                return

    def park(self, waiting: Waiting, timeout: float, resume: Callable[[], None]) -> float:
        """``wait`` without a thread: the backend's ``DeleteFeed`` calls back on the delete;
        the time limit is the next probe of a leading predecessor's lease (``campaign`` then
        probes without reading the queue) or ``timeout``."""
        predecessor = self._predecessor
        if predecessor is None:
            return 0.0
        now = self.backend.clock.now()
        probe_at = self._next_probe(predecessor, now)
        limit = timeout if probe_at is None else min(timeout, probe_at - now)
        if limit <= 0:
            self._probe_now = probe_at is not None
            return 0.0

        def deleted(revision: int | None) -> None:
            self._deleted(interest, predecessor, revision)

        interest = DeleteInterest(
            predecessor.key, self.key if predecessor.leads else "", predecessor.watch_from, deleted
        )
        with self._park_lock:
            if self._interrupted:
                self._interrupted = False
                return 0.0
            self._resume, self._interest = resume, interest
        self.backend.deletes.watch(interest)
        with self._park_lock:
            stale = self._interest is not interest  # interrupted before it was registered
        if stale:
            self.backend.deletes.unwatch(interest)
        return limit

    def unpark(self) -> None:
        with self._park_lock:
            interest, self._interest, self._resume = self._interest, None, None
            self._interrupted = False
        if interest is not None:
            self.backend.deletes.unwatch(interest)
        self._probe_now = True  # the time limit: the campaign probes if one is due

    def _deleted(
        self, interest: DeleteInterest, predecessor: _Predecessor, revision: int | None
    ) -> None:
        """The feed's answer for the parked wait of ``interest`` (ignored once that wait is
        over: an interrupt or the time limit came first)."""
        with self._park_lock:
            if self._interest is not interest:
                return
            if revision is not None and predecessor.leads:
                self._vacated = (predecessor, revision)
        self._resume_parked()

    def _resume_parked(self) -> None:
        with self._park_lock:
            resume, interest = self._resume, self._interest
            self._resume = self._interest = None
            if resume is not None:
                self._interrupted = False
        if resume is None:
            return
        if interest is not None:
            self.backend.deletes.unwatch(interest)
        resume()

    def _probe_due(self) -> bool:
        """Whether a parked wait ended at its time limit with a probe of the leader's lease
        due (the probe then runs instead of a read of the queue)."""
        probe_now, self._probe_now = self._probe_now, False
        predecessor = self._predecessor
        if not probe_now or predecessor is None or self._vacated is not None:
            return False
        now = self.backend.clock.now()
        due = self._next_probe(predecessor, now)
        return due is not None and due <= now

    def _next_probe(self, predecessor: _Predecessor, now: float) -> float | None:
        if not predecessor.leads or not predecessor.lease:
            return None
        return now if self._expiry is None else self._expiry.next_probe(now)

    def _probe(self, predecessor: _Predecessor) -> bool:
        """Ask the leader's lease's TTL; delete its key once expired. True if it was deleted."""
        try:
            sent = self.backend.clock.now()
            reply = self.backend.post("lease/timetolive", {"ID": str(predecessor.lease)})
            received = self.backend.clock.now()
            if self._expiry is None:
                self._expiry = ExpiryProbe(int(reply.get("grantedTTL", 0)))
            self._expiry.observe(sent, received, seconds_left(reply))
            if not self._expiry.expired:
                return False
            stale = same_revision(predecessor.key, predecessor.create_revision)
            delete = {"request_delete_range": {"key": b64(predecessor.key)}}
            reply = self.backend.post("kv/txn", {"compare": [stale], "success": [delete]})
            if reply.get("succeeded"):
                log.info("election %s: its leader's lease expired; deleted its key", self.name)
            return True
        except LeaselectError:  # leave it to etcd's own revocation and the watch
            self._expiry = ExpiryProbe(0)
            return False

    def resign(self) -> None:
        """Leave the election: a fresh key next time, and the old one deleted for sure.

        The next campaign registers a new key (new nonce), so a tenure after this one gets a
        new create revision even if the old key still lives; the old key is forsaken to the
        session, which deletes it before extending the shared lease again. The key is deleted
        even if we never learnt its revision: a registration whose reply was lost may have
        created it (its name is ours alone, so the plain delete touches nothing else).
        """
        key = self.key
        self.leading = False
        self._since = None
        self.backend.owned.pop((self.name, self.token), None)
        self.token = 0
        self._predecessor, self._expiry, self._vacated = None, None, None
        self._interrupted = self._probe_now = False  # the elector interrupted first: afresh
        self.nonce, self.key, self.lease = secrets.token_hex(4), "", None
        if key:
            self.session.forsake(key)

    def interrupt(self) -> None:
        self._watch.interrupt()
        with self._park_lock:
            self._interrupted = self._resume is None  # else the parked wait takes it now
        self._resume_parked()

    def tenure(self) -> Tenure | None:
        """The tenure this candidacy leads now, or None."""
        if not self.leading or self.lease is None:
            return None
        return Tenure(self.lease, self.key, self.token)

    def lost(self, tenure: Tenure | None, reason: LostReason) -> Renewal:
        """This candidacy's renewal once the key of ``tenure`` (asked about) is gone."""
        if tenure is None or self.tenure() != tenure:
            return Renewal(None, None)
        self.leading = False
        self.backend.owned.pop((self.name, self.token), None)
        return Renewal(None, reason)
