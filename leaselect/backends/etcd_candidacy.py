"""One process's candidacy in one etcd election: register, wait for the predecessor, resign."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from ..backend import Candidacy, Grant, Renewal, Waiting
from ..lease import LostReason
from .etcd_transport import Json, LeaseNotFound, b64, by_create, same_revision, unb64
from .etcd_watch import DeleteWatch

if TYPE_CHECKING:
    from .etcd import EtcdSession


class EtcdCandidacy(Candidacy):
    """One process's key in one election."""

    def __init__(self, session: EtcdSession, name: str, identity: str, metadata: str) -> None:
        super().__init__(name, identity, metadata)
        self.session = session
        self.backend = session.backend
        self.nonce = secrets.token_hex(4)
        self.key = ""
        self.lease: int | None = None
        self.token = 0
        self.leading = False
        self._predecessor: tuple[str, int] | None = None
        self._since: float | None = None  # sent of our first campaign since (re)joining
        self._watch = DeleteWatch(self.backend.transport)

    def campaign(self, sent: float) -> Grant | Waiting:
        self._watch.reset()
        if self._since is None:
            self._since = sent
        for _ in range(2):
            lease, ttl, anchor = self.session.lease(sent)
            if anchor < self._since - self.session.ttl / 6:
                # The keeper's schedule for us began at _since; an older anchor would put us
                # in jeopardy before its first renewal, so refresh the shared lease now.
                if self.session.refresh(lease, sent) <= 0:
                    continue
                lease, ttl, anchor = self.session.lease(sent)
            try:
                return self._register(lease, ttl, anchor)
            except LeaseNotFound:
                self.session.lease_gone(lease)
                self._watch.reset()
        return Waiting(None)

    def _register(self, lease: int, ttl: float, anchor: float) -> Grant | Waiting:
        if self.lease != lease:
            self.lease, self.key = (
                lease,
                f"{self.backend.election_prefix(self.name)}{lease:x}-{self.nonce}",
            )
        queue, revision = self._queue() if self.token else ([], 0)
        keys = [unb64(kv["key"]) for kv in queue]
        if self.key not in keys:  # not registered yet, or our key is gone: (re-)create it
            reply = self.backend.post("kv/txn", self._register_txn(lease))
            queue = reply["responses"][-1]["response_range"].get("kvs", [])
            keys, revision = [unb64(kv["key"]) for kv in queue], int(reply["header"]["revision"])
            if self.key not in keys:
                raise LeaseNotFound("our key vanished with the lease")
        index = keys.index(self.key)
        self.token = int(queue[index]["create_revision"])
        if index == 0:
            self.leading = True
            self._predecessor = None
            self.backend.owned[(self.name, self.token)] = self.key
            return Grant(self.token, ttl, anchor)
        self._predecessor = (keys[index - 1], revision + 1)
        return Waiting(None)

    def _queue(self) -> tuple[list[Json], int]:
        """Every candidate key of this election by create revision: a read, no raft write."""
        request = {**by_create(self.backend.election_prefix(self.name)), "keys_only": True}
        reply = self.backend.post("kv/range", request)
        return reply.get("kvs", []), int(reply["header"]["revision"])

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
        if self._predecessor is not None:
            key, revision = self._predecessor
            self._watch.wait(key, revision, timeout)

    def resign(self) -> None:
        was_registered = bool(self.key) and self.token > 0
        self.leading = False
        self._since = None
        self.backend.owned.pop((self.name, self.token), None)
        if not was_registered:
            return
        delete = {"request_delete_range": {"key": b64(self.key)}}
        self.backend.post(
            "kv/txn", {"compare": [same_revision(self.key, self.token)], "success": [delete]}
        )
        self.token = 0
        self._predecessor = None

    def interrupt(self) -> None:
        self._watch.interrupt()

    def lost(self, reason: LostReason) -> Renewal:
        """This candidacy's renewal once its key is gone."""
        if not self.leading:
            return Renewal(None, None)
        self.leading = False
        self.backend.owned.pop((self.name, self.token), None)
        return Renewal(None, reason)
