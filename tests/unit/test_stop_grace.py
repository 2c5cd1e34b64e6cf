"""One ``stop_grace`` rule for every supervisor (``Timing.max_stop_grace``), ``Elector``'s
``timing=`` and the ``Tenure`` they all stop leader work by."""

from __future__ import annotations

import pytest

from leaselect import ConfigError, Elector, LeaderOnly, Timing, leader_only
from leaselect.lease import Lease
from leaselect.options import with_stop_grace
from leaselect.tenure import Tenure
from leaselect.testing import FakeClock
from tests.unit.scripted import ScriptedBackend


def test_the_grace_must_leave_one_renew_interval_of_the_usable_lease() -> None:
    timing = Timing(ttl=15.0)
    assert timing.max_stop_grace == pytest.approx(15 * 0.99 / 1.01 - 1.0 - 5.0)  # 8.70 s
    assert Timing(ttl=15.0, stop_grace=8.6).stop_grace == 8.6
    with pytest.raises(ConfigError, match=r"stop_grace 8\.8s must be below 8\.703s"):
        Timing(ttl=15.0, stop_grace=8.8)


@pytest.mark.parametrize("grace", [8.8, 13.0])  # 13 s was accepted by LeaderOnly before
def test_leader_only_checks_its_grace_with_the_same_rule(grace: float) -> None:
    with pytest.raises(ConfigError, match="stop_grace"):
        with_stop_grace({"ttl": 15.0}, grace)
    assert with_stop_grace({"ttl": 15.0, "identity": "me"}, 8.6) == {
        "identity": "me",
        "timing": Timing(ttl=15.0, stop_grace=8.6),
    }


def test_a_negative_or_non_numeric_grace_is_refused_at_construction() -> None:
    with pytest.raises(ConfigError, match="stop_grace must not be negative"):
        LeaderOnly(ScriptedBackend(), "job", stop_grace=-1)
    with pytest.raises(ConfigError, match="stop_grace must be a number of seconds"):
        leader_only(ScriptedBackend(), "job", stop_grace="1")  # type: ignore[arg-type]


def test_a_grace_in_timing_and_as_an_option_is_refused() -> None:
    with pytest.raises(ConfigError, match="not both"):
        with_stop_grace({"timing": Timing(ttl=9.0, stop_grace=1.0)}, 2.0)
    options = with_stop_grace({"timing": Timing(ttl=9.0, stop_grace=1.0)}, 0.0)
    assert options["timing"].stop_grace == 1.0


def test_the_elector_takes_a_timing() -> None:
    timing = Timing(ttl=9.0, margin=0.5, stop_grace=1.0)
    elector = Elector(ScriptedBackend(), "job", timing=timing, clock=FakeClock())
    try:
        assert elector.timing is timing
    finally:
        elector.close()
    with pytest.raises(ConfigError, match="not both"):
        Elector(ScriptedBackend(), "job", ttl=9.0, timing=timing)
    with pytest.raises(ConfigError, match=r"timing must be a leaselect\.Timing"):
        Elector(ScriptedBackend(), "job", timing=9.0)  # type: ignore[arg-type]


def test_a_tenure_stops_its_work_grace_before_the_deadline_as_it_moves() -> None:
    clock = FakeClock(start=100.0)
    lease = Lease("job", "me", 1, 9.0, deadline=108.0)
    tenure = Tenure(lease, clock, grace=2.0)
    assert tenure.stop_at == 106.0 and tenure.until_stop() == 6.0 and not tenure.stop_due()
    clock.advance(6.0)
    assert tenure.stop_due() and tenure.until_stop() == 0.0 and not tenure.over()
    lease._extend(111.0, 9.0)  # a renewal moves the deadline, and the stop with it
    assert not tenure.stop_due() and tenure.until_stop() == 3.0 and tenure.left() == 5.0
    clock.advance(5.0)
    assert tenure.over()
