"""Jobs ``LeaderScheduler`` refuses: no explicit ``id`` (a random id per process gives each
process its own mark, so fire times run twice across a handover under clock skew) and
``jitter`` (each process draws its own fire times)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from leaselect.errors import ConfigError
from leaselect.integrations.apscheduler import LeaderScheduler

GRID = datetime(2020, 1, 1, tzinfo=timezone.utc)


def tick() -> None:
    """A job."""


@pytest.fixture
def gate(tmp_path: Path) -> LeaderScheduler:
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    return LeaderScheduler(scheduler, f"sqlite://{tmp_path}/x.db", "rules", ttl=1.5)


def test_a_job_without_an_id_is_refused(gate: LeaderScheduler) -> None:
    with pytest.raises(ConfigError, match=r"tick.*id="):
        gate.scheduler.add_job(tick, "interval", seconds=1, start_date=GRID)
    with pytest.raises(ConfigError, match=r"tick.*id="):
        gate.scheduler.scheduled_job("interval", seconds=1)(tick)
    assert not gate.scheduler.get_jobs()
    gate.scheduler.add_job(tick, "interval", seconds=1, start_date=GRID, id="tick")
    assert [job.id for job in gate.scheduler.get_jobs()] == ["tick"]
    gate.shutdown()


def test_jitter_is_refused(gate: LeaderScheduler) -> None:
    with pytest.raises(ConfigError, match="jitter"):
        gate.scheduler.add_job(tick, "interval", seconds=1, jitter=0.5, id="a")
    with pytest.raises(ConfigError, match="jitter"):
        gate.scheduler.add_job(tick, IntervalTrigger(seconds=1, jitter=0.5), id="b")
    assert not gate.scheduler.get_jobs()
    gate.shutdown()
