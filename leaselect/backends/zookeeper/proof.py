"""The proving half of the backend's ZooKeeper session: touches the quorum leader recorded.

A renewal counts only once the quorum leader has recorded it (``anchor``): a tick after a
touch's answer, a ``sync`` and then a ``check`` of every node at stake prove that the touch
reached the quorum leader while the nodes were still there. ``prove`` runs that rule;
``grant_anchor`` picks, for a candidacy that just found itself first, the touch a keep-alive
round already proved, else kazoo's latest ping, else the campaign's own round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kazoo.exceptions import NoNodeError, RolledBackError, RuntimeInconsistency

from ... import keeper
from ...backend import Session
from ...errors import BackendUnavailable
from .anchor import Answered, gap, proven
from .client import mapped_errors
from .connection import Connection

SLACK = 0.05  # seconds: a proof's round trips and scheduling
CHECKS_PER_MULTI = 1000  # check operations per multi (well below jute.maxbuffer's 1 MB)


class Aborted(Exception):
    """A proof stopped waiting: one of the nodes it was proving is gone."""


class ProvingSession(Session):
    """A session's requests on the backend's connection, and the proofs of its touches."""

    def __init__(self, conn: Connection, ttl: float) -> None:
        super().__init__(ttl)
        self.conn = conn
        self.request_timeout = ttl / 3
        self._proven: tuple[int, Answered] | None = None  # (session, touch) a round proved

    def live(self) -> tuple[Any, int]:
        """The client and its session id; ``BackendUnavailable`` while SUSPENDED (jeopardy)."""
        client = self.conn.client(self.ttl)
        sid = self.conn.session_id()
        if sid is None:
            raise BackendUnavailable(
                f"ZooKeeper {self.conn.config.redacted}: connection suspended, reconnecting"
            )
        return client, sid

    def result(self, pending: Any, what: str) -> Any:
        """Wait for one pipelined request, mapping kazoo's errors."""
        with mapped_errors(what, self.conn.config.redacted):
            return pending.get(timeout=self.request_timeout)

    def lease_ttl(self, sid: int) -> float:
        return self.conn.lease_ttl(sid)

    def answered(self, epoch: int, sent: float) -> Answered:
        """Record our request sent at ``sent`` as answered now; raise if the connection changed."""
        answer = self.conn.answered(epoch, sent)
        if answer is None:
            raise BackendUnavailable(
                f"ZooKeeper {self.conn.config.redacted}: connection changed during a renewal"
            )
        return answer

    def prove(
        self,
        client: Any,
        sid: int,
        touch: Answered,
        paths: Sequence[str],
        gone: Callable[[], bool] = lambda: False,
    ) -> tuple[float, list[bool]]:
        """Wait a tick after ``touch``'s answer, then ``sync`` and ``check`` each path.

        Returns ``touch.sent`` (the proven anchor, on ``conn.clock``) and, per path, whether the
        quorum leader still had the node. Raises ``BackendUnavailable`` if the connection
        changes, ``Aborted`` as soon as ``gone()`` holds.
        """
        ready = touch.received + gap(self.conn.tick)
        while True:
            generation = self.conn.generation
            if gone():
                raise Aborted()
            if self.conn.epoch != touch.epoch or self.conn.session_id() != sid:
                self.answered(touch.epoch, touch.sent)  # raises: the connection changed
            now = self.conn.clock.now()
            if now >= ready:
                break
            self.conn.wait_news(generation, ready - now)
        synced = self.result(client.sync_async(paths[0]), "sync")
        sync = self.answered(touch.epoch, now)
        del synced
        write_sent = self.conn.clock.now()
        present = self._check_all(client, paths)
        write = self.answered(touch.epoch, write_sent)
        anchor = proven(touch, sync, write, self.conn.tick)
        if anchor is None:  # cannot happen: the waits above are the rule's conditions
            raise BackendUnavailable("ZooKeeper renewal proof incomplete")
        return anchor, present

    def _check_all(self, client: Any, paths: Sequence[str]) -> list[bool]:
        """Whether the quorum leader still has each node: ``check`` operations in multis of at
        most ``CHECKS_PER_MULTI``, sent together (one quorum write for up to that many
        leaders). A multi fails whole: the node it names as missing is absent, and the others
        of that multi are checked again (so a round costs one more write per missing node).
        Every successful multi was sent after the sync's answer, as the proof requires."""
        present: dict[str, bool] = {}
        pending = list(paths)
        while pending:
            chunks = [
                pending[i : i + CHECKS_PER_MULTI] for i in range(0, len(pending), CHECKS_PER_MULTI)
            ]
            sent = [(chunk, self._multi_check(client, chunk)) for chunk in chunks]
            pending = []
            for chunk, request in sent:
                results = self.result(request, "check")
                missing = {p for p, r in zip(chunk, results, strict=True) if _absent(r)}
                errors = [r for r in results if isinstance(r, Exception)]
                other = [r for r in errors if not _absent(r) and not _rolled_back(r)]
                if other or (errors and not missing):  # anything but "no node" proves nothing
                    cause = type((other or errors)[0]).__name__
                    raise BackendUnavailable(f"ZooKeeper check failed ({cause})")
                for path in chunk:
                    if path in missing:
                        present[path] = False
                    elif missing:
                        pending.append(path)  # rolled back with the missing one: ask again
                    else:
                        present[path] = True
        return [present[path] for path in paths]

    @staticmethod
    def _multi_check(client: Any, paths: Sequence[str]) -> Any:
        transaction = client.transaction()
        for path in paths:
            transaction.check(path, -1)
        return transaction.commit_async()

    def grant_anchor(
        self, client: Any, sid: int, epoch: int, own: Answered | None, path: str
    ) -> float:
        """The proven anchor (``conn.clock``) of a candidacy that just found itself first.

        The session's touch a keep-alive round proved, if recent enough for the keeper's next
        renewal to land before jeopardy (no round trip: docs/zookeeper.md, "next in line");
        else kazoo's latest ping answered a tick ago if recent enough, else ``own`` (the
        campaign's round trip), else a fresh ``exists``, then proven. ``BackendUnavailable``
        if our node is gone then.
        """
        now = self.conn.clock.now()
        oldest = now - self._proof_life()
        proof = self._proven
        kept = proof[1] if proof is not None and proof[0] == sid else None
        if kept is not None and kept.epoch == epoch and kept.sent >= oldest:
            return kept.sent  # proven by a keep-alive round: no round trip to lead
        touch = self.conn.latest(epoch, now - gap(self.conn.tick))
        if touch is None or touch.sent < oldest:
            touch = own
        if touch is None:
            started = self.conn.clock.now()
            self.result(client.exists_async(path), "exists")
            touch = self.answered(epoch, started)
        anchor, (present,) = self.prove(client, sid, touch, [path])
        if not present:
            raise BackendUnavailable("our candidate node vanished before we could lead")
        return anchor

    def next_in_line(self) -> None:
        """A candidacy is now next to lead: have a round prove a touch for its grant now,
        unless a recent one is kept."""
        proof = self._proven
        if proof is None or proof[1].sent < self.conn.clock.now() - self._prove_again_after():
            keeper.wake(self)

    def node_event(self, renew: bool = True) -> None:
        """One of our nodes changed or went (kazoo's thread): stop any proof wait, and renew
        now if it was a leader's."""
        self.conn.notify()
        if renew:
            keeper.wake(self)

    def _proof_life(self) -> float:
        """How long a kept touch serves a grant: the keeper's next renewal must land before
        jeopardy (docs/zookeeper.md, "Next in line")."""
        return self.ttl / 2 - 1.5 * gap(self.conn.tick) - SLACK

    def _prove_again_after(self) -> float:
        """While a candidacy is next in line, a new round starts this long after the kept
        touch, so its proof (a gap and a few round trips later) is kept before the old one
        ages out: no grant then has to prove its own."""
        return max(self.ttl / 6, self._proof_life() - gap(self.conn.tick) - 2 * SLACK)


def _absent(result: object) -> bool:
    return isinstance(result, NoNodeError)


def _rolled_back(result: object) -> bool:
    """A multi's other operations when one failed: before it (OK, rolled back) or after it."""
    return isinstance(result, RolledBackError | RuntimeInconsistency)
