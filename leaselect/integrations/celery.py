"""Celery beat on the leader only.

``celery -A app beat -S leaselect.integrations.celery:LeaderScheduler``

Run a beat on every host; each campaigns for one election, and only the one that leads sends
anything. Every periodic entry is sent once per *slot* (``celery_slots``: the interval's
multiples since the epoch, or the crontab's minutes), admitted by the store before it is sent:

1. the beat leads and is not in jeopardy (read from the clock at that moment);
2. the store raised the entry's mark (``Backend.advance_mark``) to the slot under this tenure's
   token, so no slot is sent twice across beats, restarts and failovers, whatever the hosts'
   clocks say;
3. the beat still leads after that round trip; then the message goes out with the headers
   ``leaselect_token`` (the fencing token: ``fencing_token(task)`` reads it in the task) and
   ``leaselect_slot`` (the slot, ISO 8601 UTC, an idempotency key).

A slot that falls due while no beat leads (the failover gap) is sent once, late, by the next
leader as soon as it is elected, if no later slot of that entry has fallen due by then and it
is at most ``leaselect_catch_up`` seconds late (default: twice the TTL, which covers a failover);
of several slots missed in one gap only the latest is sent, and an older slot is skipped (so a
cluster started at 15:00 does not send the 04:00 slot of a daily crontab). A follower blocks
until its elector is elected (woken by the store through the elector), so a new leader sends
within one tick of its election. Details: docs/celery.md.

Configuration (Celery config, else the environment): ``leaselect_url`` (else ``LEASELECT_URL``,
else a ``.env`` file as for the CLI), ``leaselect_name`` (default ``celery-beat.<app main>``),
``leaselect_ttl`` (seconds, default 15), ``leaselect_catch_up`` (seconds, default 2 x TTL),
``leaselect_identity`` (default host:pid:random).
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timezone
from hashlib import sha256
from typing import Any

from celery.beat import ScheduleEntry, Scheduler

from ..elector import Elector
from ..errors import ConfigError, LeaselectError
from ..lease import Lease, LostReason
from ..machine import Effect, Elected, Recovered
from .celery_slots import check_schedule, latest_slot, next_slot

log = logging.getLogger("leaselect")

__all__ = ["SLOT_HEADER", "TOKEN_HEADER", "LeaderScheduler", "fencing_token"]

TOKEN_HEADER = "leaselect_token"
SLOT_HEADER = "leaselect_slot"
DEFAULT_TTL = 15.0
RETRY = 0.5  # seconds before a slot the store could not admit is tried again


def fencing_token(task: Any) -> int | None:
    """The fencing token the leading beat sent ``task``'s message with (in a bound task:
    ``fencing_token(self)``), or None for a message no ``LeaderScheduler`` sent."""
    request = getattr(task, "request", task)
    value = getattr(request, TOKEN_HEADER, None)
    if value is None:
        headers = getattr(request, "headers", None) or {}
        value = headers.get(TOKEN_HEADER) if isinstance(headers, dict) else None
    return None if value is None else int(value)


class LeaderScheduler(Scheduler):  # type: ignore[misc]  # celery is untyped
    """A beat scheduler that sends only while its process leads (see the module docstring)."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self._elector: Elector | None = None
        self._changed = threading.Event()  # elected or recovered: a waiting follower ticks
        self._sent: dict[str, datetime] = {}  # entry name -> the last slot handled here
        self._catch_up = 2 * DEFAULT_TTL
        super().__init__(app, *args, **kwargs)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        for name, entry in self.schedule.items():
            check_schedule(name, entry.schedule)
        conf = self.app.conf
        url = conf.get("leaselect_url") or _url_from_environment()
        name = conf.get("leaselect_name") or _default_name(self.app.main)
        ttl = float(conf.get("leaselect_ttl") or DEFAULT_TTL)
        catch_up = conf.get("leaselect_catch_up")
        self._catch_up = 2 * ttl if catch_up is None else float(catch_up)
        self._elector = Elector(
            url,
            name,
            ttl=ttl,
            identity=conf.get("leaselect_identity"),
            metadata="celery beat",
            on_elected=self._on_elected,
            on_lost=self._on_lost,
        )
        self._elector._observe(self._effect)  # elected, recovered: a waiting tick goes on
        self._elector.start()
        log.info("beat: campaigning for %r (ttl %gs)", name, ttl)

    @property
    def elector(self) -> Elector:
        """The beat's elector (after ``setup_schedule``)."""
        if self._elector is None:
            raise LeaselectError("LeaderScheduler has no elector yet (a lazy instance)")
        return self._elector

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Send what is due if leading; the seconds to sleep until the next slot. A follower
        waits here (up to ``max_interval``) until its elector is elected."""
        elector = self.elector
        lease = elector.lease
        if lease is None or not elector.is_leader or elector.in_jeopardy:
            self._changed.clear()
            if not (elector.is_leader and not elector.in_jeopardy):
                self._changed.wait(self.max_interval)
            return 0.0
        now = datetime.now(timezone.utc)
        for entry in list(self.schedule.values()):
            if not self._admit_and_send(entry, now, lease):
                return RETRY
        return self._until_next(datetime.now(timezone.utc))

    def _admit_and_send(self, entry: ScheduleEntry, now: datetime, lease: Lease) -> bool:
        """Send ``entry``'s latest slot if no beat did; False if the store could not tell."""
        slot = latest_slot(entry.schedule, now)
        handled = self._sent.get(entry.name)
        if slot is None or (handled is not None and handled >= slot):
            return True
        late = (now - slot).total_seconds()
        if late > self._catch_up:
            self._sent[entry.name] = slot
            log.info("beat: slot %s of %r is %.1fs late: skipped", slot, entry.name, late)
            return True
        elector = self.elector
        try:
            admitted = elector.backend.advance_mark(
                elector.name, _mark(entry.name), _millis(slot), lease.token
            )
        except LeaselectError as exc:
            log.warning("beat: slot %s of %r not admitted yet: %s", slot, entry.name, exc)
            return False
        self._sent[entry.name] = slot
        if not admitted:
            return True  # another tenure sent it (or a later slot)
        if not elector.is_leader or elector.in_jeopardy:
            log.warning(
                "beat: slot %s of %r admitted but not sent: leadership ended", slot, entry.name
            )
            return True
        self._send(entry, slot, lease.token)
        return True

    def _send(self, entry: ScheduleEntry, slot: datetime, token: int) -> None:
        log.info("beat: sending %r (%s), slot %s, token %d", entry.name, entry.task, slot, token)
        options = dict(entry.options)
        headers = dict(options.pop("headers", None) or {})
        headers.update(
            {"celery_beat_task": True, TOKEN_HEADER: token, SLOT_HEADER: slot.isoformat()}
        )
        try:
            task = self.app.tasks.get(entry.task)
            args, kwargs = list(entry.args or ()), dict(entry.kwargs or {})
            producer = self.producer
            if task is not None:
                task.apply_async(args, kwargs, producer=producer, headers=headers, **options)
            else:
                self.send_task(
                    entry.task, args, kwargs, producer=producer, headers=headers, **options
                )
        except Exception:  # a broker error: this slot is lost, the next is tried
            log.exception("beat: slot %s of %r could not be sent", slot, entry.name)
        self.schedule[entry.name] = entry._next_instance(last_run_at=slot)

    def _until_next(self, now: datetime) -> float:
        upcoming = [next_slot(entry.schedule, now) for entry in self.schedule.values()]
        waits = [(at - now).total_seconds() for at in upcoming if at is not None]
        return max(0.0, min([float(self.max_interval), *waits]))

    def _effect(self, effect: Effect) -> None:
        if isinstance(effect, (Elected, Recovered)):
            self._changed.set()

    def _on_elected(self, lease: Lease) -> None:
        log.info("beat: elected for %r with token %d", lease.name, lease.token)
        self._changed.set()

    def _on_lost(self, lease: Lease, reason: LostReason) -> None:
        log.warning("beat: leadership of %r lost (%s): sending stops", lease.name, reason.value)

    def close(self) -> None:
        """Release leadership (a waiting beat takes over at once), then Celery's close."""
        if self._elector is not None:
            self._elector.close()
        self._changed.set()
        super().close()


def _mark(entry_name: str) -> str:
    """The store mark of a beat entry (entry names may hold any character)."""
    return "celery." + sha256(entry_name.encode()).hexdigest()[:40]


def _millis(slot: datetime) -> int:
    return round(slot.timestamp() * 1000)


def _default_name(main: str | None) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "-", main or "default")[:100]
    return f"celery-beat.{base}"


def _url_from_environment() -> str:
    from ..cli.config import resolve_url

    try:
        return resolve_url(None)[0]
    except ConfigError as exc:
        raise ConfigError(
            f"LeaderScheduler needs leaselect_url in the Celery config: {exc}"
        ) from None
