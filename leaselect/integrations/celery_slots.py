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

SEARCH_DAYS = 400  # a crontab with no minute in this many days has no slot (e.g. 30 February)
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
    that ``kind`` matches, in its time zone; skips whole days and hours that cannot match."""
    zone = kind.tz
    moment = start.astimezone(zone).replace(second=0, microsecond=0)
    limit = SEARCH_DAYS * 24 * 60
    checked = 0
    while checked < limit:
        weekday = moment.isoweekday() % 7  # Celery's 0 is Sunday
        if not (
            moment.month in kind.month_of_year
            and moment.day in kind.day_of_month
            and weekday in kind.day_of_week
        ):
            moment, skipped = _edge(moment, step, "day")
        elif moment.hour not in kind.hour:
            moment, skipped = _edge(moment, step, "hour")
        elif moment.minute not in kind.minute:
            moment, skipped = moment + timedelta(minutes=step), 1
        else:
            return moment.astimezone(timezone.utc)
        checked += skipped
    return None


def _edge(moment: datetime, step: int, unit: str) -> tuple[datetime, int]:
    """The last minute of the previous ``unit`` (step -1) or the first of the next (step 1),
    and about how many minutes that skipped."""
    if unit == "day":
        start = moment.replace(hour=0, minute=0)
        size = timedelta(days=1)
    else:
        start = moment.replace(minute=0)
        size = timedelta(hours=1)
    target = start - timedelta(minutes=1) if step < 0 else start + size
    # wall-clock arithmetic in the zone: normalise through UTC so a DST change cannot loop
    target = target.astimezone(timezone.utc).astimezone(moment.tzinfo)
    return target, max(1, int(abs((target - moment).total_seconds()) // 60))
