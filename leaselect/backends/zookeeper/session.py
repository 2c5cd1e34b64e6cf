"""The backend's ZooKeeper session: keep-alives that prove the quorum leader touched it.

Every renewal anchors at a request the quorum leader is known to have recorded
(``anchor``): an ``exists`` (of one leading node, and of each whose watch, which ends
a tenure the moment the node goes, fired), then, a tick after its answer, a ``sync`` and a
``check`` multi over every leading node. The same round runs for a candidacy next in line
(watching the leader) and the session keeps the touch it proved: a grant anchors there if it is
recent (no round trip on a hand-over), else on kazoo's latest ping that is a tick old (two round
trips), else on the campaign's own round trip.

The layers below keep the rest: the proofs of touches (``proof``), the nodes the candidacies
gave up (``discards``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooState

from ... import keeper
from ...backend import Candidacy, Renewal
from ...lease import LostReason
from ...logfields import store_log
from ...signalmask import start_quiet
from .candidacy import ZooKeeperCandidacy
from .connection import Connection
from .discards import DiscardingSession
from .proof import Aborted

log = store_log("zk")


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


class ZooKeeperSession(DiscardingSession):
    """The backend's ZooKeeper session; one keep-alive checks every leading node at once."""

    def __init__(self, conn: Connection, ttl: float) -> None:
        super().__init__(conn, ttl)
        self._candidacies: weakref.WeakSet[ZooKeeperCandidacy] = weakref.WeakSet()
        self.conn.on_change(self._on_state)

    def candidacy(self, name: str, identity: str, metadata: str) -> Candidacy:
        candidacy = ZooKeeperCandidacy(self, name, identity, metadata)
        self._candidacies.add(candidacy)
        return candidacy

    def leader_node(self, name: str, token: int) -> str | None:
        """The node of the candidacy that leads ``name`` with ``token``, if one of ours does."""
        for candidacy in list(self._candidacies):
            with candidacy.flags:
                leading = candidacy.leading
            node = candidacy.node
            if leading and candidacy.name == name and candidacy.token == token and node:
                return f"{candidacy.parent}/{node}"
        return None

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
        epoch, started = self.conn.epoch, self.conn.clock.now()
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
                later = touch.sent + self._prove_again_after() - self.conn.clock.now()
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
            given_up = self._reconnected()
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
