"""The sans-I/O election state machine: one tenure's life, fed with events and times.

follower --elected--> leader --renew failed / renewal overdue--> jeopardy --renewed--> leader
leader|jeopardy --deadline / taken / released--> follower (exactly one ``Lost`` per ``Elected``)

The machine never reads a clock and never does I/O; drivers pass ``now`` and act on the effects.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .lease import Lease, LostReason
from .timing import Timing


class Phase(enum.Enum):
    """Where one elector stands."""

    FOLLOWER = "follower"
    LEADER = "leader"
    JEOPARDY = "jeopardy"


@dataclass(frozen=True)
class Elected:
    """This process became leader."""

    lease: Lease


@dataclass(frozen=True)
class Jeopardy:
    """Renewals are failing: start no new leader work; the lease holds until its deadline."""

    lease: Lease


@dataclass(frozen=True)
class Recovered:
    """A renewal succeeded again after jeopardy."""

    lease: Lease


@dataclass(frozen=True)
class Lost:
    """The tenure ended; emitted exactly once per ``Elected``."""

    lease: Lease
    reason: LostReason


Effect = Elected | Jeopardy | Recovered | Lost


class ElectionMachine:
    """Tracks one elector's tenure against its local deadline."""

    def __init__(self, name: str, identity: str, timing: Timing) -> None:
        self.name = name
        self.identity = identity
        self.timing = timing
        self.phase = Phase.FOLLOWER
        self.lease: Lease | None = None
        self._anchor = 0.0
        self._elected_at = 0.0  # local time the tenure began: older rounds know nothing of it
        self._failed_since_renewal = False
        self.highest_token: int | None = None  # of every grant this machine has seen

    @property
    def anchor(self) -> float:
        """The send time of the tenure's latest confirmed request (its first: the grant)."""
        return self._anchor

    def fresh_token(self, token: int) -> bool:
        """Whether a grant's ``token`` is above every token seen so far (and remember it).

        A tenure must never repeat or go below an earlier token, whatever the adapter returns:
        the driver refuses such a grant (resigns and campaigns again) instead of leading with it.
        """
        fresh = self.highest_token is None or token > self.highest_token
        self.highest_token = token if fresh else self.highest_token
        return fresh

    def is_leader(self, now: float) -> bool:
        """True while a tenure is open and its local deadline has not passed."""
        return self.lease is not None and now < self.lease.deadline

    def elected(self, token: int, granted_ttl: float, sent: float, now: float) -> list[Effect]:
        """The store made us leader with a request sent at ``sent``; [] if that is already stale."""
        if self.phase is not Phase.FOLLOWER:
            raise RuntimeError(f"elected while {self.phase.value}")
        deadline = self.timing.deadline(sent, granted_ttl)
        if now >= deadline:
            return []
        self.lease = Lease(self.name, self.identity, token, granted_ttl, deadline)
        self.phase = Phase.LEADER
        self._anchor = sent
        self._elected_at = now
        self._failed_since_renewal = False
        return [Elected(self.lease)]

    def renewed(self, granted_ttl: float, sent: float, now: float) -> list[Effect]:
        """A renewal sent at ``sent`` succeeded."""
        effects = self.tick(now)
        if self.lease is None or sent <= self._anchor:
            return effects
        self._anchor = sent
        self._failed_since_renewal = False
        self.lease._extend(self.timing.deadline(sent, granted_ttl), granted_ttl)
        if self.phase is Phase.JEOPARDY:
            self.phase = Phase.LEADER
            effects.append(Recovered(self.lease))
        return effects

    def renew_failed(self, now: float, sent: float | None = None) -> list[Effect]:
        """A renewal (sent at ``sent``) could not reach the store; keep trying until the
        deadline. A round sent before the tenure began says nothing about it: no jeopardy."""
        effects = self.tick(now)
        if self.lease is not None and (sent is None or sent >= self._elected_at):
            self._failed_since_renewal = True
            effects += self._enter_jeopardy()
        return effects

    def taken(self, sent: float, now: float, reason: LostReason = LostReason.TAKEN) -> list[Effect]:
        """A request sent at ``sent`` found the lease no longer ours.

        Ignored if it was sent before the tenure's anchor or before the tenure was elected: a
        grant may be anchored on an older round trip (a ZooKeeper ping), so a round of the
        previous tenure can be sent after the anchor and still speak only of that tenure.
        """
        effects = self.tick(now)
        if self.lease is None or sent < self._anchor or sent < self._elected_at:
            return effects
        return effects + self._end(reason, now)

    def released(self, now: float) -> list[Effect]:
        """We gave the lease up."""
        return self._end(LostReason.RELEASED, now)

    def tick(self, now: float) -> list[Effect]:
        """Apply the passage of time: jeopardy when a renewal is overdue, lost at the deadline."""
        if self.lease is None:
            return []
        if now >= self.lease.deadline:
            # renewals failed, or one was due and never answered (a hung request): unreachable;
            # expired only if the grant ran out before any renewal was due (a short grant)
            overdue = self._failed_since_renewal or now >= self.jeopardy_at()
            return self._end(LostReason.UNREACHABLE if overdue else LostReason.EXPIRED, now)
        if now >= self.jeopardy_at():
            return self._enter_jeopardy()
        return []

    def jeopardy_at(self) -> float:
        """When a missing renewal counts as overdue."""
        return self._anchor + 1.5 * self.timing.renew_every

    def next_wakeup(self) -> float | None:
        """The next time ``tick`` may change something, or None while following."""
        if self.lease is None:
            return None
        if self.phase is Phase.LEADER:
            return min(self.jeopardy_at(), self.lease.deadline)
        return self.lease.deadline

    def _enter_jeopardy(self) -> list[Effect]:
        if self.phase is not Phase.LEADER or self.lease is None:
            return []
        self.phase = Phase.JEOPARDY
        return [Jeopardy(self.lease)]

    def _end(self, reason: LostReason, now: float) -> list[Effect]:
        lease = self.lease
        if lease is None:
            return []
        lease._end(now)
        self.lease = None
        self.phase = Phase.FOLLOWER
        return [Lost(lease, reason)]
