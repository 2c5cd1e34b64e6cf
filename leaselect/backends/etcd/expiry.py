"""When has etcd's primary let a lease expire? Bracketed from ``LeaseTimeToLive`` answers.

etcd revokes expired leases only on a 500 ms loop, so after a leader crash its key can linger
up to half a second past the lease's expiry. The first waiter brackets that expiry ``E`` and,
once E has certainly passed, deletes the leader key itself (never the lease: see
``EtcdCandidacy``). Answers are whole seconds, truncated: an answer ``t >= 1`` to a probe sent
at ``s`` proves ``E >= s + t``, which stays true (renewals only move E later); an answer ``0``
received at ``r`` proves ``E < r + 1`` unless the lease is renewed afterwards.

Deciding "expired" needs two zero answers, p then f: f sent at least 1 s (stretched by the
drift) after p was received proves ``E < s_f`` if nothing renewed the lease in between, and a
renewal between them would have made f answer >= 1 as long as f is received less than
``granted - 1`` seconds after p was sent (the renewal resets the remaining time to ``granted``).
Hence the rule needs a granted TTL of at least ``MIN_GRANTED`` seconds.

Scheduling: the next probe goes at ``low - 1 + STEP``, where ``low`` is the best lower bound. It
answers 0 only if ``E < low + STEP``, so the first zero comes at most STEP after ``E - 1`` and
the proof at most STEP + drift + slack after E. While the leader renews, each answer moves
``low`` about a renew interval on, so that costs one probe per renew interval or less; only a
lease that missed its renewals is scanned, STEP by STEP, through its last second.
"""

from __future__ import annotations

from dataclasses import dataclass

DRIFT = 0.01  # our second vs the primary's, as in the core's Timing
SLACK = 0.02  # seconds added to the proof's wait for scheduling noise
STEP = 0.05  # how far past E - 1 the first zero answer may come
MIN_GRANTED = 3  # the rule needs f - p > 1 s and < granted - 1 s


@dataclass(frozen=True)
class _Probe:
    sent: float
    received: float


class ExpiryProbe:
    """Brackets one lease's expiry and says when it has passed.

    Times are read from a clock that counts through a host suspend (``CLOCK_BOOTTIME``): the
    spacing rule bounds real elapsed time between two answers, and a clock that stopped while
    the host slept would let a renewal in between go unseen.
    """

    def __init__(self, granted: int) -> None:
        self.granted = granted
        self.low: float | None = None  # E >= low (renewals only move E later)
        self.zero: _Probe | None = None  # the first zero answer since the last renewal
        self.expired = False
        self.gone = False  # etcd no longer knows the lease: it is being or was revoked

    @property
    def usable(self) -> bool:
        """Whether the two-zero rule can prove expiry for this lease."""
        return self.granted >= MIN_GRANTED and not self.gone

    def next_probe(self, now: float) -> float | None:
        """When to ask next (our clock), or None if no probe can help."""
        if not self.usable or self.expired:
            return None
        if self.zero is not None:
            return self.zero.received + (1 + DRIFT) + SLACK
        if self.low is None:
            return now
        return self.low - 1 + STEP

    def observe(self, sent: float, received: float, ttl: int) -> None:
        """Record the answer ``ttl`` (seconds, -1 if unknown) to a probe sent/received then."""
        if ttl < 0:
            self.gone = True
        elif ttl >= 1:
            self.low = max(self.low or 0.0, sent + ttl)
            self.zero = None  # a zero before this answer was followed by a renewal
        elif self.zero is None or not self._within_spacing(self.zero, received):
            self.zero = _Probe(sent, received)
        elif sent >= self.zero.received + (1 + DRIFT) + SLACK:
            self.expired = True

    def _within_spacing(self, zero: _Probe, received: float) -> bool:
        return received - zero.sent <= (self.granted - 1) * (1 - DRIFT) - SLACK
