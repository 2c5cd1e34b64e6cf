"""Lease timing: validated settings and the local-deadline rule.

A leader stops believing it leads at its local deadline::

    deadline = sent + granted_ttl * (1 - drift) / (1 + drift) - margin

where ``sent`` is when the acquire/renew request that succeeded was *sent* (the store starts its
timer only after receiving it, so it cannot expire first), ``granted_ttl`` is the TTL the store
granted, ``drift`` bounds the rate difference between our clock and the store's, and ``margin``
is the time leader-only work gets to stop before the store may hand the lease to someone else.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from .errors import ConfigError

DEFAULT_TTL = 15.0
DEFAULT_DRIFT = 0.01
MAX_MARGIN = 1.0
MAX_TTL = 86400.0
"""The longest TTL: a crashed leader would block its election for a day (usually a unit slip)."""


@dataclass(frozen=True)
class Timing:
    """How long a lease lasts and how it is kept.

    ttl: seconds the store keeps the lease without a renewal (default 15, at most ``MAX_TTL``,
    one day; each store may allow less, see ``Backend.max_ttl``).
    renew_interval: seconds between renewals (default ttl / 3).
    drift: bound on the clock-rate difference between us and the store (default 1 %).
    margin: seconds reserved to stop leader-only work (default min(1 s, ttl / 10)).
    stop_grace: seconds before the local deadline at which leader-only work is told to stop
    (default 0: at the deadline). The one rule, for every supervisor (``LeaderOnly``,
    ``leader_only``, ``leaselect run --grace``): below ``max_stop_grace``, the usable lease
    minus one renew interval, so the stop comes only once a renewal is overdue, never in a
    tenure whose renewals succeed; work is stopped by the deadline at the latest.
    """

    ttl: float = DEFAULT_TTL
    renew_interval: float | None = None
    drift: float = DEFAULT_DRIFT
    margin: float | None = None
    stop_grace: float = 0.0

    def __post_init__(self) -> None:
        for field in ("ttl", "renew_interval", "drift", "margin", "stop_grace"):
            value = _require_seconds(field, getattr(self, field), optional=field in _OPTIONAL)
            object.__setattr__(self, field, value)  # a Fraction or numpy number becomes a float
        _require(self.ttl > 0, f"ttl must be positive, got {self.ttl!r}")
        _require(
            self.ttl <= MAX_TTL, f"ttl must be at most {MAX_TTL:g}s (one day), got {self.ttl!r}"
        )
        _require(0 <= self.drift < 0.5, f"drift must be in [0, 0.5), got {self.drift!r}")
        _require(
            self.margin is None or self.margin >= 0, f"margin must not be negative: {self.margin!r}"
        )
        _require(self.renew_every > 0, f"renew_interval must be positive: {self.renew_interval!r}")
        _require(self.stop_grace >= 0, f"stop_grace must not be negative: {self.stop_grace!r}")
        window = self.usable(self.ttl)
        _require(
            window >= 1.5 * self.renew_every,
            f"ttl {self.ttl:g}s is too small: after drift and a {self.safety_margin:g}s margin "
            f"it leaves {window:.3f}s, less than 1.5 x the {self.renew_every:g}s renew interval",
        )
        _require(
            self.stop_grace < self.max_stop_grace,
            f"stop_grace {self.stop_grace:g}s must be below {self.max_stop_grace:.3f}s "
            f"(usable lease {window:.3f}s minus one renew interval) for ttl {self.ttl:g}s",
        )

    @property
    def renew_every(self) -> float:
        """The renew interval in seconds."""
        return self.ttl / 3 if self.renew_interval is None else self.renew_interval

    @property
    def safety_margin(self) -> float:
        """The margin in seconds."""
        return min(MAX_MARGIN, self.ttl / 10) if self.margin is None else self.margin

    @property
    def max_stop_grace(self) -> float:
        """``stop_grace`` must be below this: the usable lease minus one renew interval (a
        larger one would stop the work before the first renewal could move the deadline)."""
        return self.usable(self.ttl) - self.renew_every

    def usable(self, granted_ttl: float) -> float:
        """Seconds after the send time that a lease of ``granted_ttl`` may be trusted."""
        return granted_ttl * (1 - self.drift) / (1 + self.drift) - self.safety_margin

    def deadline(self, sent: float, granted_ttl: float) -> float:
        """The local deadline of a ``granted_ttl`` lease whose request was sent at ``sent``."""
        return sent + self.usable(granted_ttl)

    def retry_delay(self) -> float:
        """Pause after a failed renewal: short, so several retries fit before the deadline."""
        return min(self.renew_every / 4, 0.5)


_OPTIONAL = ("renew_interval", "margin")


def timing_of(
    timing: object, ttl: float, renew_interval: float | None, drift: float, margin: float | None
) -> Timing:
    """An elector's ``Timing``: ``timing`` if given (then the four settings must be left at
    their defaults), else one made from them."""
    if timing is None:
        return Timing(ttl, renew_interval, drift, margin)
    if not isinstance(timing, Timing):
        raise ConfigError(f"timing must be a leaselect.Timing or None, got {timing!r}")
    if (ttl, renew_interval, drift, margin) != (DEFAULT_TTL, None, DEFAULT_DRIFT, None):
        raise ConfigError("pass either timing or ttl/renew_interval/drift/margin, not both")
    return timing


def _require_seconds(field: str, value: object, optional: bool) -> float | None:
    """A finite ``numbers.Real`` (not a bool; ``Decimal`` is not one) as a float, or None where
    ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        kind = "a number" if field == "drift" else "a number of seconds"
        kind += " or None" if optional else ""
        raise ConfigError(f"{field} must be {kind} (a real number, not Decimal), got {value!r}")
    try:
        seconds = float(value)
    except (OverflowError, ValueError, TypeError):
        raise ConfigError(f"{field} must be finite, got {value!r}") from None
    if not math.isfinite(seconds):
        raise ConfigError(f"{field} must be finite, got {value!r}")
    return seconds


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
