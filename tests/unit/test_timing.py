"""The local-deadline rule and config validation."""

from __future__ import annotations

import pytest

from leaselect import ConfigError, Timing


def test_deadline_is_anchored_at_the_send_time_minus_drift_and_margin() -> None:
    timing = Timing(ttl=10.0, drift=0.01, margin=0.5)
    assert timing.deadline(sent=100.0, granted_ttl=10.0) == pytest.approx(
        100.0 + 10.0 * 0.99 / 1.01 - 0.5
    )


def test_deadline_uses_the_granted_ttl_not_the_requested_one() -> None:
    timing = Timing(ttl=3.0, margin=0.0, drift=0.0)
    assert timing.deadline(sent=0.0, granted_ttl=5.0) == 5.0


@pytest.mark.parametrize(
    ("ttl", "renew_every", "margin"),
    [(15.0, 5.0, 1.0), (3.0, 1.0, 0.3), (1.0, 1 / 3, 0.1)],
)
def test_defaults(ttl: float, renew_every: float, margin: float) -> None:
    timing = Timing(ttl=ttl)
    assert timing.renew_every == pytest.approx(renew_every)
    assert timing.safety_margin == pytest.approx(margin)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": 0.0}, "ttl must be positive"),
        ({"ttl": -1.0}, "ttl must be positive"),
        ({"ttl": 2.0, "renew_interval": 1.5}, "too small"),
        ({"ttl": 2.0, "margin": 1.5}, "too small"),
        ({"ttl": 3.0, "stop_grace": 2.0}, "stop_grace"),
        ({"ttl": 3.0, "drift": 0.7}, "drift"),
        ({"ttl": 3.0, "margin": -1.0}, "margin"),
    ],
)
def test_bad_settings_are_rejected_with_the_rule(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Timing(**kwargs)


def test_retry_delay_leaves_room_for_several_retries() -> None:
    timing = Timing(ttl=3.0)
    assert timing.retry_delay() * 3 < timing.usable(3.0) - timing.renew_every
