"""The backend's ZooKeeper session: keep-alives that prove the quorum leader touched it.

Every renewal anchors at a request the quorum leader is known to have recorded
(``anchor``): an ``exists`` (of one leading node, and of each whose watch, which ends
a tenure the moment the node goes, fired), then, a tick after its answer, a ``sync`` and a
``check`` multi over every leading node. The same round runs for a candidacy next in line
(watching the leader) and the session keeps the touch it proved: a grant anchors there if it is
recent (no round trip on a hand-over), else on kazoo's latest ping that is a tick old (two round
trips), else on the campaign's own round trip.

The session also owns the nodes its candidacies gave up: they are deleted as soon as the
connection allows, whether or not a campaign thread still runs, and ``observe`` skips them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooState
from kazoo.exceptions import NoNodeError, RolledBackError, RuntimeInconsistency

from ... import keeper
from ...backend import Candidacy, Renewal, Session
from ...clock import SYSTEM_CLOCK
from ...errors import BackendUnavailable
from ...lease import LostReason
from ...logfields import store_log
from ...signalmask import start_quiet
from .anchor import Answered, gap, proven
from .candidacy import ZooKeeperCandidacy
from .client import mapped_errors
from .connection import Connection

log = store_log("zk")

SLACK = 0.05  # seconds: a proof's round trips and scheduling
CHECKS_PER_MULTI = 1000  # check operations per multi (well below jute.maxbuffer's 1 MB)


@dataclass(frozen=True)
class Round:
    """A leading candidacy as a keep-alive round found it: its tenure and its node."""

    candidacy: ZooKeeperCandidacy
    tenure: int
    path: str

    @property
    def key(self) -> int:
        return id(self.candidacy)

    def current(self) -> bool:
        """Still leading the tenure this round started with."""
        return self.candidacy.leading and self.candidacy.tenure == self.tenure


class Aborted(Exception):
    """A proof stopped waiting: one of the nodes it was proving is gone."""


class ZooKeeperSession(Session):
    """The backend's ZooKeeper session; one keep-alive checks every leading node at once."""

    def __init__(self, conn: Connection, ttl: float) -> None:
        super().__init__(ttl)
        self.conn = conn
        self.request_timeout = ttl / 3
        self._candidacies: weakref.WeakSet[ZooKeeperCandidacy] = weakref.WeakSet()
        self._garbage: dict[str, int] = {}  # path of a node given up -> the session that owns it
        self._garbage_lock = threading.Lock()
        self._deleting: set[str] = set()  # discarded paths whose delete is in flight
        self._garbage_gone = threading.Condition(self._garbage_lock)  # a discarded node went
        self._proven: tuple[int, Answered] | None = None  # (session, touch) a round proved
        # the last first registration found its election's node missing: the next ones send
        # their election's node ahead of their own (candidacy._register)
        self.new_elections = False
        self.conn.on_change(self._on_state)

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

    def result(self, pending: Any, what: str) -> Any:
        """Wait for one pipelined request, mapping kazoo's errors."""
        with mapped_errors(what, self.conn.config.redacted):
            return pending.get(timeout=self.request_timeout)

    def lease_ttl(self, sid: int) -> float:
        return self.conn.lease_ttl(sid)

    # -- proofs (anchor) ---------------------------------------------------------------------

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

        Returns ``touch.sent`` (the proven anchor, SYSTEM_CLOCK) and, per path, whether the
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
            now = SYSTEM_CLOCK.now()
            if now >= ready:
                break
            self.conn.wait_news(generation, ready - now)
        synced = self.result(client.sync_async(paths[0]), "sync")
        sync = self.answered(touch.epoch, now)
        del synced
        write_sent = SYSTEM_CLOCK.now()
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
        """The proven anchor (SYSTEM_CLOCK) of a candidacy that just found itself first.

        The session's touch a keep-alive round proved, if recent enough for the keeper's next
        renewal to land before jeopardy (no round trip: docs/zookeeper.md, "next in line");
        else kazoo's latest ping answered a tick ago if recent enough, else ``own`` (the
        campaign's round trip), else a fresh ``exists``, then proven. ``BackendUnavailable``
        if our node is gone then.
        """
        now = SYSTEM_CLOCK.now()
        oldest = now - self._proof_life()
        proof = self._proven
        kept = proof[1] if proof is not None and proof[0] == sid else None
        if kept is not None and kept.epoch == epoch and kept.sent >= oldest:
            return kept.sent  # proven by a keep-alive round: no round trip to lead
        touch = self.conn.latest(epoch, now - gap(self.conn.tick))
        if touch is None or touch.sent < oldest:
            touch = own
        if touch is None:
            started = SYSTEM_CLOCK.now()
            self.result(client.exists_async(path), "exists")
            touch = self.answered(epoch, started)
        anchor, (present,) = self.prove(client, sid, touch, [path])
        if not present:
            raise BackendUnavailable("our candidate node vanished before we could lead")
        return anchor

    # -- keep-alive ---------------------------------------------------------------------------

    def keep_alive(self, held: Sequence[Candidacy], sent: float) -> list[Renewal]:
        """One ``exists`` (and one per leading node whose watch fired), then the proof: a tick
        later a ``sync`` and a ``check`` per node. The renewal anchors at the ``exists``s
        (later than ``sent``).

        A round settles only the tenures it started with: a candidacy that resigned and led
        again meanwhile (a new node, a new tenure) gets no news from it, neither renewal nor
        loss, since the round looked at its old node."""
        leaders = [
            Round(c, c.tenure, c.path)
            for c in held
            if isinstance(c, ZooKeeperCandidacy) and c.leading
        ]
        renewals = {id(c): Renewal(None, None) for c in held}
        lost = self.conn.lost_session
        for leader in leaders:
            if leader.candidacy.owner is not None and leader.candidacy.owner == lost:
                renewals[leader.key] = self._lost(leader, LostReason.EXPIRED)
        leaders = [leader for leader in leaders if leader.current()]
        heads = [c for c in held if isinstance(c, ZooKeeperCandidacy) and c.next_in_line()]
        if leaders:
            client, sid = self.live()
            for leader in leaders:
                if leader.candidacy.owner != sid:
                    renewals[leader.key] = self._lost(leader, LostReason.EXPIRED)
            mine = [leader for leader in leaders if leader.candidacy.owner == sid]
            nexts = [head.path for head in heads if head.owner == sid]
            if mine or nexts:
                renewals.update(self._renew(client, sid, mine, nexts))
        elif heads:
            self._prove_for_next(heads)
        return [renewals[id(c)] for c in held]

    def next_in_line(self) -> None:
        """A candidacy is now next to lead: have a round prove a touch for its grant now,
        unless a recent one is kept."""
        proof = self._proven
        if proof is None or proof[1].sent < SYSTEM_CLOCK.now() - self._prove_again_after():
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

    def _prove_for_next(self, heads: list[ZooKeeperCandidacy]) -> None:
        """No leader, but candidacies next in line: a round proves a touch of the session for
        their grant (a failure here ends nothing: their campaign proves its own)."""
        try:
            client, sid = self.live()
            self._renew(client, sid, [], [head.path for head in heads if head.owner == sid])
        except Exception as exc:  # nothing depends on it: the grant then proves its own
            log.debug("proof for the next in line failed: %s", exc)

    def _renew(
        self, client: Any, sid: int, leaders: list[Round], nexts: Sequence[str] = ()
    ) -> dict[int, Renewal]:
        """Renew ``leaders``; the same proof also covers the nodes next in line (``nexts``)
        and, if any node was there, is kept for their grant."""
        if not leaders and not nexts:
            return {}
        epoch, started = self.conn.epoch, SYSTEM_CLOCK.now()
        for leader in leaders:
            leader.candidacy.gone = False
        # One request touches the session for all; a node's watch is set again only once it
        # fired (the check below finds any node gone): not 1,000 requests per round
        probed = [leader for leader in leaders if not leader.candidacy.armed] or leaders[:1]
        for leader in probed:
            leader.candidacy.armed = True
        checks = [
            (leader, client.exists_async(leader.path, watch=leader.candidacy.own_watch))
            for leader in probed
        ]
        if not leaders:  # the touch: a read of a node next in line
            self.result(client.exists_async(nexts[0]), "keep-alive")
        renewals: dict[int, Renewal] = {}
        looked_at = {leader.key for leader in probed}
        alive = [leader for leader in leaders if leader.key not in looked_at]
        for leader, check in checks:
            stat = self.result(check, "keep-alive")
            if stat is not None and stat.ephemeralOwner == sid:
                alive.append(leader)
            else:
                renewals[leader.key] = self._lost(leader, self._why_gone(sid))
        touch = self.answered(epoch, started)
        if not alive and not nexts:
            return renewals
        try:
            _, found = self.prove(
                client,
                sid,
                touch,
                [leader.path for leader in alive] + list(nexts),
                lambda: any(leader.candidacy.gone for leader in alive),
            )
        except Aborted:  # an own-node event: end those tenures now, renew the rest next time
            for leader in alive:
                renewals[leader.key] = (
                    self._lost(leader, self._why_gone(sid))
                    if leader.candidacy.gone
                    else Renewal(None, None)
                )
            return renewals
        if any(found):  # the session was alive at the quorum leader: keep the touch
            self._proven = (sid, touch)
            if nexts:
                later = touch.sent + self._prove_again_after() - SYSTEM_CLOCK.now()
                keeper.renew_within(self, later)
        present = found[: len(alive)]
        ttl = self.lease_ttl(sid)
        for leader, there in zip(alive, present, strict=True):
            if not leader.current():
                renewals[leader.key] = Renewal(None, None)
            else:
                renewals[leader.key] = (
                    Renewal(ttl) if there else self._lost(leader, self._why_gone(sid))
                )
        return renewals

    def _why_gone(self, sid: int) -> LostReason:
        """Our node is gone: with our session (expired) or deleted by someone (taken)."""
        return LostReason.TAKEN if self.conn.session_id() == sid else LostReason.EXPIRED

    @staticmethod
    def _lost(leader: Round, reason: LostReason) -> Renewal:
        """End ``leader``'s tenure, unless the candidacy has moved on to another one."""
        with leader.candidacy.flags:
            if not leader.current():
                return Renewal(None, None)
            leader.candidacy.leading = False
        return Renewal(None, reason)

    def node_event(self, renew: bool = True) -> None:
        """One of our nodes changed or went (kazoo's thread): stop any proof wait, and renew
        now if it was a leader's."""
        self.conn.notify()
        if renew:
            keeper.wake(self)

    # -- nodes given up -----------------------------------------------------------------------

    def discard(self, path: str, owner: int) -> None:
        """Delete ``path`` (a node of session ``owner`` we no longer want) as soon as we can.

        While connected, waits for the delete (up to a request timeout), so that once a
        ``release()`` returns the store no longer names this process; while suspended it
        returns at once and the next CONNECTED deletes it; while the backend closes it sends
        nothing (closing the session deletes every node of ours at once)."""
        with self._garbage_lock:
            self._garbage[path] = owner
        if self.closing:
            return  # the session's close deletes it with every other node of ours
        self.collect()
        if self.conn.session_id() != owner:
            return
        with self._garbage_gone:
            self._garbage_gone.wait_for(lambda: path not in self._garbage, self.request_timeout)

    def discarded(self, path: str) -> bool:
        with self._garbage_lock:
            return path in self._garbage

    def collect(self) -> None:
        """Send a delete for every discarded node of the current session that has none in
        flight (non-blocking). Once per node: 50 resigns at once sent 50 deletes each before."""
        sid, client = self.conn.session_id(), self.conn.current()
        if sid is None or client is None:
            return  # suspended: the next CONNECTED collects
        with self._garbage_lock:
            for path, owner in list(self._garbage.items()):
                if owner != sid:  # that session is gone, and its ephemeral nodes with it
                    del self._garbage[path]
            paths = [path for path in self._garbage if path not in self._deleting]
            self._deleting.update(paths)
        for path in paths:
            try:
                client.delete_async(path).rawlink(lambda done, p=path: self._deleted(p, done))
            except Exception:  # the connection dropped: the next CONNECTED sends it again
                with self._garbage_lock:
                    self._deleting.discard(path)

    def _deleted(self, path: str, done: Any) -> None:
        try:
            done.get_nowait()
        except NoNodeError:
            pass
        except Exception:  # the connection dropped: the next CONNECTED sends it again
            with self._garbage_lock:
                self._deleting.discard(path)
            return
        with self._garbage_lock:
            self._garbage.pop(path, None)
            self._deleting.discard(path)
            self._garbage_gone.notify_all()

    def _on_state(self, state: str) -> None:
        """A connection state change (kazoo's thread). SUSPENDED and LOST: renew now, which
        puts leaders in jeopardy or ends their tenure at once. CONNECTED: delete what we gave
        up and wake every waiting candidacy, whose watches may be gone. Any change: the next
        keep-alive sets every leader's watch again and reads its node's owner."""
        for candidacy in list(self._candidacies):
            candidacy.armed = False
        self._proven = None  # a grant after a reconnect proves its own
        keeper.wake(self)
        if state == KazooState.CONNECTED:
            with self._garbage_lock:
                self._deleting.clear()  # sent on the old connection: send them again
                given_up = bool(self._garbage)
            # not on kazoo's thread: each request wakes that thread through a socket pair it
            # alone reads, so a few hundred sent from here fill it and the thread blocks on
            # itself for good (and no thread at all when nothing was given up)
            if given_up:
                start_quiet(
                    threading.Thread(target=self.collect, name="leaselect-zk-collect", daemon=True)
                )
        for candidacy in list(self._candidacies):
            if state == KazooState.SUSPENDED:
                candidacy.wake()  # its campaign would fail: no need to cut a retry pause short
            else:
                candidacy.interrupt()


def _absent(result: object) -> bool:
    return isinstance(result, NoNodeError)


def _rolled_back(result: object) -> bool:
    """A multi's other operations when one failed: before it (OK, rolled back) or after it."""
    return isinstance(result, RolledBackError | RuntimeInconsistency)
