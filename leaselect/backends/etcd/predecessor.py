"""A waiting candidacy's wait for the key just before its own, in one etcd election.

The waiter watches its predecessor's key for a DELETE: with a thread of its own (``wait``, a
``DeleteWatch``) or parked on the backend's one stream (``park``, a ``DeleteInterest`` with the
``DeleteFeed``). When the predecessor leads, the waiter also watches its own key (a delete of
the leader's key counts only if ours did not go first: docs/etcd.md, "Handover without a read")
and proves the leader's lease expired itself: etcd revokes expired leases only every 500 ms, so
the first waiter asks the lease's TTL (``ExpiryProbe``) and deletes the leader key, never the
lease: the lease may hold the crashed process's other elections, and only this key is known to
be stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import LeaselectError
from ...logfields import store_log
from .cluster import Cluster
from .deletes import DeleteInterest
from .expiry import ExpiryProbe
from .transport import b64, same_revision, seconds_left
from .watch import DeleteWatch

log = store_log("etcd")


@dataclass(frozen=True)
class Predecessor:
    """The key just before ours: watched for its delete; if it leads, its lease is probed."""

    key: str
    watch_from: int  # the revision after the listing that found it
    create_revision: int
    lease: int
    leads: bool


class PredecessorWait:
    """The wait of the candidacy in election ``name`` for its predecessor (module docstring)."""

    def __init__(self, backend: Cluster, name: str) -> None:
        self.backend = backend
        self.name = name
        self.current: Predecessor | None = None
        # a leading predecessor seen deleted, and the revision of its delete
        self.vacated: tuple[Predecessor, int] | None = None
        self._expiry: ExpiryProbe | None = None  # of the leader's lease, while we are next
        self._watch = DeleteWatch(backend.transport, backend.clock)
        # a parked wait (see park): its resume, its interest with the backend's feed
        self._park_lock = threading.Lock()
        self._resume: Callable[[], None] | None = None
        self._interest: DeleteInterest | None = None
        self._interrupted = False  # an interrupt no parked wait took yet
        self._probe_now = False  # the parked wait's time limit came: a probe may be due

    def follow(self, predecessor: Predecessor) -> None:
        """The key just before ours is ``predecessor`` (a new one: a new expiry proof)."""
        if predecessor != self.current:
            self.current, self._expiry = predecessor, None

    def take_vacated(self) -> tuple[Predecessor, int] | None:
        """The leading predecessor's delete, for this campaign only: one that fails (a refresh
        that raises) leaves the next to read the queue."""
        vacated, self.vacated = self.vacated, None
        return vacated

    def reset(self) -> None:
        """Forget the predecessor (we resigned: the elector interrupted first, start afresh)."""
        self.current, self._expiry, self.vacated = None, None, None
        self._interrupted = self._probe_now = False

    def still_waiting(self) -> bool:
        """Whether a parked wait that ended at its time limit, with a probe of the leader's
        lease due, found that lease alive: then the campaign waits again without a read."""
        if not self._probe_due():
            return False
        predecessor = self.current
        return predecessor is not None and not self._probe(predecessor)

    def wait(self, own_key: str, timeout: float) -> None:
        """Watch the predecessor's key (and ``own_key`` if it leads); if it leads, also take
        its key once its lease expired."""
        predecessor = self.current
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
            own = own_key if predecessor.leads else ""  # then watched too (module docstring)
            if self._watch.wait(predecessor.key, predecessor.watch_from, due - now, own):
                deleted = self._watch.deleted
                if deleted is not None and predecessor.leads:
                    self.vacated = (predecessor, deleted)
                return
            if clock.now() >= deadline or self._probe(predecessor):
                return

    def park(self, own_key: str, timeout: float, resume: Callable[[], None]) -> float:
        """``wait`` without a thread: the backend's ``DeleteFeed`` calls back on the delete;
        the time limit is the next probe of a leading predecessor's lease (the campaign then
        probes without reading the queue: ``still_waiting``) or ``timeout``."""
        predecessor = self.current
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
            predecessor.key, own_key if predecessor.leads else "", predecessor.watch_from, deleted
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

    def interrupt(self) -> None:
        self._watch.interrupt()
        with self._park_lock:
            self._interrupted = self._resume is None  # else the parked wait takes it now
        self._resume_parked()

    def _deleted(
        self, interest: DeleteInterest, predecessor: Predecessor, revision: int | None
    ) -> None:
        """The feed's answer for the parked wait of ``interest`` (ignored once that wait is
        over: an interrupt or the time limit came first)."""
        with self._park_lock:
            if self._interest is not interest:
                return
            if revision is not None and predecessor.leads:
                self.vacated = (predecessor, revision)
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
        predecessor = self.current
        if not probe_now or predecessor is None or self.vacated is not None:
            return False
        now = self.backend.clock.now()
        due = self._next_probe(predecessor, now)
        return due is not None and due <= now

    def _next_probe(self, predecessor: Predecessor, now: float) -> float | None:
        if not predecessor.leads or not predecessor.lease:
            return None
        return now if self._expiry is None else self._expiry.next_probe(now)

    def _probe(self, predecessor: Predecessor) -> bool:
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
