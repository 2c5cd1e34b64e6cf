"""The slots of a Celery beat entry: due times every beat process computes alike.

Celery's own beat derives the next run from the process's ``last_run_at``, so two beats never
agree on which run is which. ``LeaderScheduler`` needs one name per run to send each once, so
a slot is a due time that depends only on the schedule and the wall clock:

- an interval (``schedule``, a number of seconds, a ``timedelta``): the multiples of the
  interval since the Unix epoch (a 10 s task falls due at :00, :10, :20 ...);
- a ``crontab``: the minutes it matches, in the schedule's time zone.

Other schedules (``solar``, custom classes) have no such slots and are refused.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from celery.schedules import crontab, schedule

from ..errors import ConfigError

SEARCH_DAYS = 400  # a crontab with no minute in this many days has no slot (29 February)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def check_schedule(name: str, kind: Any) -> None:
    """``ConfigError`` unless ``kind`` is an interval or a crontab (a slot per due time)."""
    if isinstance(kind, crontab):
        return
    if type(kind) is schedule and kind.run_every.total_seconds() > 0:
        return
    raise ConfigError(
        f"beat entry {name!r}: LeaderScheduler sends interval and crontab schedules only "
        f"(each due time once across the beats), not {type(kind).__name__}"
    )


def latest_slot(kind: Any, now: datetime) -> datetime | None:
    """The latest due time at or before ``now`` (aware), or None if none in ``SEARCH_DAYS``."""
    if isinstance(kind, crontab):
        return _crontab_slot(kind, now, step=-1)
    period = kind.run_every.total_seconds()
    return EPOCH + timedelta(seconds=math.floor((now - EPOCH).total_seconds() / period) * period)


def next_slot(kind: Any, now: datetime) -> datetime | None:
    """The first due time after ``now`` (aware), or None if none in ``SEARCH_DAYS``."""
    if isinstance(kind, crontab):
        return _crontab_slot(kind, now + timedelta(minutes=1), step=1)
    period = kind.run_every.total_seconds()
    index = math.floor((now - EPOCH).total_seconds() / period) + 1
    return EPOCH + timedelta(seconds=index * period)


def _crontab_slot(kind: crontab, start: datetime, step: int) -> datetime | None:
    """The first minute from ``start`` (included) going back (``step`` -1) or forward (1)
    that ``kind`` matches in its time zone. The search moves in UTC (no wall-clock time that a
    daylight-saving change skips or repeats is ever produced) and reads each instant in the
    zone; whole hours and days that cannot match are skipped."""
    zone = kind.tz
    moment = start.astimezone(timezone.utc).replace(second=0, microsecond=0)
    limit = moment + timedelta(days=SEARCH_DAYS * step)
    while (moment - limit).total_seconds() * step < 0:
        local = moment.astimezone(zone)
        weekday = local.isoweekday() % 7  # Celery's 0 is Sunday
        if not (
            local.month in kind.month_of_year
            and local.day in kind.day_of_month
            and weekday in kind.day_of_week
        ):
            into_day = local.hour * 60 + local.minute
            skip = into_day + 1 if step < 0 else 24 * 60 - into_day
        elif local.hour not in kind.hour:
            skip = local.minute + 1 if step < 0 else 60 - local.minute
        elif local.minute not in kind.minute:
            skip = 1
        else:
            return moment
        moment += timedelta(minutes=skip * step)
    return None
