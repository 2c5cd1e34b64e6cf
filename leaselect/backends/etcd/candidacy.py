"""One process's candidacy in one etcd election: register, wait for the predecessor, resign."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ...backend import Candidacy, Grant, Renewal, Waiting
from ...lease import LostReason
from .cluster import Cluster
from .predecessor import Predecessor, PredecessorWait
from .transport import Json, LeaseNotFound, b64, by_create, candidates, unb64


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
        self._since: float | None = None  # sent of our first campaign since (re)joining
        self._waiting = PredecessorWait(self.backend, name)

    def campaign(self, sent: float) -> Grant | Waiting:
        if self._since is None:
            self._since = sent
        if self._waiting.still_waiting():  # a parked wait's time limit: the leader's lease
            return Waiting(None)  # was probed, not expired: the same wait again, no read
        vacated = self._waiting.take_vacated()
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
        self, lease: int, ttl: float, anchor: float, vacated: tuple[Predecessor, int] | None
    ) -> Grant | Waiting:
        if self.lease != lease:  # a new lease: our key (bound to the old one) is gone
            vacated = None
            self.lease, self.key = (
                lease,
                f"{self.backend.election_prefix(self.name)}{lease:x}-{self.nonce}",
            )
        if vacated is not None and vacated[0] == self._waiting.current and self.token:
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
        self._waiting.follow(
            Predecessor(
                keys[index - 1],
                revision + 1,
                int(before["create_revision"]),
                int(before.get("lease", 0)),
                index == 1,
            )
        )
        return Waiting(None)

    def _lead(self, ttl: float, anchor: float) -> Grant:
        self.leading = True
        self._waiting.current = None
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
        """Watch the predecessor's key; if it leads, also take its key once its lease expired
        (``PredecessorWait``)."""
        self._waiting.wait(self.key, timeout)

    def park(self, waiting: Waiting, timeout: float, resume: Callable[[], None]) -> float:
        """``wait`` without a thread, on the backend's ``DeleteFeed`` (``PredecessorWait``)."""
        return self._waiting.park(self.key, timeout, resume)

    def unpark(self) -> None:
        self._waiting.unpark()

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
        self.token = 0
        self._waiting.reset()
        self.nonce, self.key, self.lease = secrets.token_hex(4), "", None
        if key:
            self.session.forsake(key)

    def interrupt(self) -> None:
        self._waiting.interrupt()

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
        return Renewal(None, reason)
