"""Which answered ZooKeeper requests prove that the quorum leader has touched our session.

Only the quorum leader expires sessions (``SessionTrackerImpl``: an ``ExpiryQueue`` of tick-sized
buckets; a touch at T with timeout t moves the session to ``roundUp(T + t)``, never earlier for
the same t). A follower F that answers a request of ours touches the session only in its own
table (``LearnerSessionTracker.touchSession``) and passes that table to the leader in its answer
to the leader's next PING (``Learner.ping``); the leader touches every listed session when its
``LearnerHandler`` reads that answer. A request F forwards (a write, a sync) touches nothing at
the leader (``LeaderZooKeeperServer.submitLearnerRequest`` goes straight to
``PrepRequestProcessor``). So an answer from F proves nothing about the leader until F has passed
the touch on; if F stops, dies or is cut off first, the leader expires the session from an older
touch (and a cut-off F keeps answering for up to syncLimit ticks, until its read of the leader
times out). "The send time of the last answered request" is therefore not an anchor.

**Rule.** A request ``i`` (sent at s_i, answer seen at a_i, on connection c) counts once two more
requests on c were answered: a ``sync`` W sent at least ``G = tickTime x (1 + DRIFT)`` after a_i,
then a write X (a ``check`` of our node in a multi) sent after W's answer arrived. Then the leader
touched the session after s_i while it was alive, so it expires no earlier than s_i + t.

**Proof.** (1) F handled i at r_i <= a_i and touched the session in its table first
(``ZooKeeperServer.submitRequestNow`` touches before processing). (2) The leader's lead loop
queues a PING for every learner each time it has waited tickTime/2 (``Leader.lead``), so with at
most tickTime/2 of lateness it queues one at least every tickTime. W reached the leader at
l_W > s_W >= a_i + G >= r_i + tickTime, so a PING q was queued for F in (r_i, l_W). (3) The
leader answers F's sync by queueing a SYNC packet after reading W (``Leader.processSync``,
``sendSync``), behind q in the same in-order queue. F reads leader packets one by one
(``Follower.processPacket``) and answers a PING by writing its touch table before reading the
next packet; it answers W only after reading SYNC. So F wrote a ping answer after r_i, listing
our session (the first table snapshot after r_i holds it), before answering W, hence before it
received and forwarded X. (4) F's packets reach the leader over one TCP stream read by one
``LearnerHandler`` thread in order: touches of a ping answer are applied on the spot, a REQUEST
is queued to ``PrepRequestProcessor``. X succeeded, so the leader read REQUEST(X) at l_X and the
ping answer before it, at T with r_i < T < l_X. (5) ``PrepRequestProcessor`` checked X's session
at >= l_X (``checkSession`` fails a closing session; closing is final), so the session was not
closing at T and ``touchSession`` moved its expiry to ``roundUp(T + t) >= s_i + t``. If F is the
leader itself it touched the session at r_i directly and the chain is merely redundant.

The local deadline ``s_i + t (1 - rho)/(1 + rho) - margin`` then never passes the leader's
expiry. **Timeout t**: every touch carries the timeout negotiated on the connection it came
from, and a touch from an older connection can still reach the leader after a reconnect, so the
lease uses the smallest timeout negotiated on any connection of the session.

**Assumptions.** The leader's ping loop is never more than tickTime/2 late (a longer leader pause
also expires sessions behind ZooKeeper's own back); the client knows tickTime (the ``tick_time``
URL option, else the server's ``conf`` four-letter word); our clock runs within DRIFT of the
leader's over G; requests of different connections never pair (the connection epoch changes
during the handshake, before a request can go out on the new connection); clients connect to
voting members or to observers that follow the leader directly (an observer behind an
ObserverMaster adds a hop the proof does not cover).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DRIFT = 0.02  # our clock against the leader's, over one proof gap
KEEP = 64  # answered requests remembered, at least SPACING ticks apart: 4 ticks back
SPACING = 1 / 16  # of a tick


@dataclass(frozen=True)
class Answered:
    """One answered request: its connection epoch, send time and when its answer was seen."""

    epoch: int
    sent: float
    received: float


def gap(tick: float) -> float:
    """How long after a request's answer the proving ``sync`` may be sent at the earliest."""
    return tick * (1 + DRIFT)


def proven(touch: Answered, sync: Answered, write: Answered, tick: float) -> float | None:
    """The send time of ``touch`` if ``sync`` then ``write`` prove the leader has it, else None."""
    if not touch.epoch == sync.epoch == write.epoch:
        return None
    if sync.sent < touch.received + gap(tick) or write.sent < sync.received:
        return None
    return touch.sent


class History:
    """The last answered requests (kazoo's pings and ours), to pick a ``touch`` from.

    Entries are kept at least ``spacing`` apart by answer time (the newest always), so that
    under a burst of requests the ``keep`` entries still reach back ``keep x spacing`` seconds:
    a campaign looks for a request answered a proof gap ago, and without the spacing a thousand
    campaigns' requests pushed every such entry out (each then waited a tick for its own).
    """

    def __init__(self, keep: int = KEEP) -> None:
        self._answered: deque[Answered] = deque(maxlen=keep)

    def add(self, answered: Answered, spacing: float = 0.0) -> None:
        """Remember ``answered``; it replaces the newest entry if that one came less than
        ``spacing`` after the one before it."""
        kept = self._answered
        if len(kept) >= 2 and answered.received - kept[-2].received < spacing:
            kept[-1] = answered
        else:
            kept.append(answered)

    def latest(self, epoch: int, received_by: float) -> Answered | None:
        """The latest-sent request of connection ``epoch`` answered by ``received_by``."""
        found = [a for a in self._answered if a.epoch == epoch and a.received <= received_by]
        return max(found, key=lambda a: a.sent, default=None)
