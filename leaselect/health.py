"""``Elector.health()``: whether an elector does its job, with the reasons when it does not.

An elector is healthy while it does what it was asked: campaigning (or leading) when wanted,
renewing on schedule while it leads, hearing from its store, and running its callbacks without
one of them stuck. A follower that waits is healthy: it is ready to take over. What probe should
use what is in docs/operations.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """What the rules read, taken from one elector at one instant (elector clock)."""

    closed: bool
    wanted: bool
    campaigning: bool  # a campaign thread, a parked wait or the watched tenure
    leading: bool
    in_jeopardy: bool
    renewal_age: float | None  # while leading: seconds since the latest confirmed renewal
    contact_age: float | None  # seconds since the store last answered (None: not asked yet)
    callback: tuple[str, float] | None  # the callback running and for how long (real seconds)


@dataclass(frozen=True)
class Health:
    """One elector's health; ``reasons`` says what is wrong (empty when healthy)."""

    election: str
    identity: str
    healthy: bool  # live, and hearing from the store, renewing on schedule
    live: bool  # not closed, campaigning when wanted, no callback stuck (see docs/operations.md)
    reasons: tuple[str, ...]
    leading: bool
    campaigning: bool
    in_jeopardy: bool
    last_contact_age: float | None
    callback_running_for: float | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``/healthz`` answers)."""
        return asdict(self) | {"reasons": list(self.reasons)}


def assess(
    election: str,
    identity: str,
    seen: Snapshot,
    ttl: float,
    renew_every: float,
    callback_limit: float,
) -> Health:
    """The rules: see the module docstring."""
    reasons: list[str] = []  # what a restart may fix: liveness
    if seen.closed:
        reasons.append("closed")
    elif seen.wanted and not seen.campaigning:
        reasons.append("wanted, but no campaign is running")
    if seen.callback is not None and seen.callback[1] > callback_limit:
        label, running = seen.callback
        reasons.append(f"{label} running for {running:.1f} s (bound {callback_limit:g} s)")
    live = not reasons
    if seen.leading and seen.in_jeopardy:
        reasons.append("in jeopardy: renewals are failing")
    if seen.leading and seen.renewal_age is not None and seen.renewal_age > 2 * renew_every:
        reasons.append(f"last renewal {seen.renewal_age:.1f} s ago (every {renew_every:g} s)")
    if seen.wanted and seen.contact_age is not None and seen.contact_age > ttl:
        reasons.append(f"store not heard from for {seen.contact_age:.1f} s (TTL {ttl:g} s)")
    return Health(
        election=election,
        identity=identity,
        healthy=not reasons,
        live=live,
        reasons=tuple(reasons),
        leading=seen.leading,
        campaigning=seen.campaigning,
        in_jeopardy=seen.leading and seen.in_jeopardy,
        last_contact_age=seen.contact_age,
        callback_running_for=None if seen.callback is None else seen.callback[1],
    )
