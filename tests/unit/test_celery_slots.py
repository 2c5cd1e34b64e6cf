"""The slots of Celery beat entries: the same due times in every beat process."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from celery.schedules import crontab, schedule

from leaselect.errors import ConfigError
from leaselect.integrations.celery_slots import check_schedule, latest_slot, next_slot

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def app(zone: str = "UTC") -> Celery:
    return Celery("slots", set_as_current=False, timezone=zone)


def test_intervals_are_multiples_of_the_period_since_the_epoch() -> None:
    every = schedule(timedelta(seconds=10), app=app())
    assert latest_slot(every, at("2026-12-03 10:00:07.5")) == at("2026-12-03 10:00:00")
    assert latest_slot(every, at("2026-12-03 10:00:10")) == at("2026-12-03 10:00:10")
    assert next_slot(every, at("2026-12-03 10:00:10")) == at("2026-12-03 10:00:20")
    odd = schedule(7.0, app=app())  # a period that does not divide a minute
    slot = latest_slot(odd, at("2026-12-03 10:00:00"))
    assert slot is not None and slot.timestamp() % 7 == 0


def test_crontab_slots_are_its_minutes_in_the_apps_zone() -> None:
    daily = crontab(minute=0, hour=4, app=app("Europe/Paris"))
    # 04:00 Paris is 03:00 UTC in December
    assert latest_slot(daily, at("2026-12-03 10:00")) == at("2026-12-03 03:00")
    assert latest_slot(daily, at("2026-12-03 02:59")) == at("2026-12-02 03:00")
    assert next_slot(daily, at("2026-12-03 03:00")) == at("2026-12-04 03:00")
    weekly = crontab(minute=30, hour=12, day_of_week="mon", app=app())
    assert latest_slot(weekly, at("2026-12-03 10:00")) == at("2026-11-30 12:30")  # a Monday
    quarter = crontab(minute="*/15", app=app())
    assert latest_slot(quarter, at("2026-12-03 10:44:59")) == at("2026-12-03 10:30")
    assert next_slot(quarter, at("2026-12-03 10:44:59")) == at("2026-12-03 10:45")


def test_a_crontab_slot_across_a_daylight_saving_change() -> None:
    hourly = crontab(minute=30, app=app("Europe/Paris"))
    # 2026-03-29: Paris clocks jump from 02:00 to 03:00 (01:00 UTC)
    slot = latest_slot(hourly, at("2026-03-29 01:10"))
    assert slot == at("2026-03-29 00:30")  # 01:30 Paris, before the jump
    after = next_slot(hourly, at("2026-03-29 00:30"))
    assert after == at("2026-03-29 01:30")  # 03:30 Paris: 02:30 does not exist
    assert slot is not None and slot.astimezone(ZoneInfo("Europe/Paris")).hour == 1


def test_a_crontab_that_matches_rarely_is_found_and_one_beyond_the_search_is_not() -> None:
    leap = crontab(minute=0, hour=0, day_of_month=29, month_of_year=2, app=app())
    assert latest_slot(leap, at("2026-12-03 10:00")) is None  # 2024-02-29: beyond 400 days
    assert next_slot(leap, at("2027-12-03 10:00")) == at("2028-02-29 00:00")


class Jittered(schedule):  # type: ignore[misc]
    """A custom schedule: its due times are its own, not slots every beat computes alike."""


@pytest.mark.parametrize(
    "kind", [Jittered(timedelta(seconds=5), app=app()), schedule(timedelta(0), app=app())]
)
def test_schedules_without_slots_are_refused(kind: object) -> None:
    with pytest.raises(ConfigError, match="interval and crontab"):
        check_schedule("entry", kind)
