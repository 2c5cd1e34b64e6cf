"""APScheduler 3.x: run a scheduler's jobs only in the process that leads, each fire time once.

``LeaderScheduler(scheduler, url, name)`` installs a leader-gated executor as the scheduler's
executor (``LeaderAsyncIOExecutor`` for an ``AsyncIOScheduler``, else ``LeaderExecutor``).
Every process keeps its scheduler running, so each advances its jobs' fire times on its own; a
fire time runs only if, when the job is about to start:

1. this process leads, is not in jeopardy, and its tenure began no later than the fire time
   (mapped from the wall clock to the lease clock: this decides *when* jobs run), and
2. the store raised the job's mark (``Backend.advance_mark``) to this fire time under this
   tenure's token. The mark only rises, so a fire time at or before the last one admitted by
   any tenure is skipped: at most once across the cluster, whatever the hosts' clocks say.

Jeopardy pauses admission: running jobs see ``stop``, fire times falling due are held and
submitted when renewals recover (then APScheduler's ``misfire_grace_time`` and ``coalesce``
apply as usual) or skipped if the tenure ends. Fire times not run are reported as
``EVENT_JOB_SKIPPED`` events. Stop signals come from the elector's own loss and deadline path,
never through the user-callback thread. Jobs cannot be killed (threads) or are cancelled at
their next ``await`` (coroutines under ``AsyncIOScheduler``); a job still running when its
tenure ends is logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from typing import Any

from ..backend import Backend
from ..clock import SYSTEM_CLOCK, Clock
from ..elector import Elector
from ..errors import LeaselectError, NotLeader
from ..machine import Effect, Elected, Jeopardy, Lost, Recovered
from ._tenure import CURRENT, JobContext, Tenure
from .apscheduler_executors import EVENT_JOB_SKIPPED, LeaderAsyncIOExecutor, LeaderExecutor

log = logging.getLogger("leaselect")

__all__ = [
    "EVENT_JOB_SKIPPED",
    "JobContext",
    "LeaderAsyncIOExecutor",
    "LeaderExecutor",
    "LeaderScheduler",
    "current_job",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND = timedelta(microseconds=1)
_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def current_job() -> JobContext:
    """The context of the job running in this thread or task; ``NotLeader`` outside one."""
    context = CURRENT.get()
    if context is None:
        raise NotLeader("not inside a job run by a LeaderScheduler")
    return context


def mark_of(job_id: str) -> str:
    """The store mark that holds the last fire time admitted for ``job_id``."""
    if _PLAIN_ID.fullmatch(job_id):
        return f"job.{job_id}"
    return f"job-sha256.{sha256(job_id.encode()).hexdigest()[:40]}"


def micros(fire_time: datetime) -> int:
    """A fire time as integer microseconds since the epoch (exact, clock-independent)."""
    return (fire_time - _EPOCH) // _ONE_MICROSECOND


class LeaderScheduler:
    """Keeps ``scheduler``'s jobs from running unless this process leads ``name``.

    Options not named here go to ``Elector`` (``ttl``, ``identity``, ``metadata``,
    ``on_elected``, ``on_lost``, ``on_jeopardy`` ...). Call ``start()`` instead of
    ``scheduler.start()`` and ``shutdown()`` at the end.
    """

    def __init__(
        self,
        scheduler: Any,
        backend_or_url: Backend | str,
        name: str,
        *,
        alias: str = "default",
        max_workers: int = 10,
        clock: Clock | None = None,
        **elector_options: Any,
    ) -> None:
        self.scheduler = scheduler
        self._clock = clock or SYSTEM_CLOCK
        self._tenure: Tenure | None = None
        self.elector = Elector(backend_or_url, name, clock=self._clock, **elector_options)
        self.elector._observe(self._observe)
        if hasattr(scheduler, "_eventloop"):  # AsyncIOScheduler
            self.executor: LeaderExecutor = LeaderAsyncIOExecutor(self, max_workers)
        else:
            self.executor = LeaderExecutor(self, max_workers)
        scheduler.add_executor(self.executor, alias)

    def start(self) -> None:
        """Start campaigning and the scheduler (if it is not running yet)."""
        self.elector.start()
        if not self.scheduler.running:
            self.scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop running jobs, shut the scheduler down, then step down.

        Whatever ``wait`` says, the lease is released only once the running jobs returned or the
        local deadline passed, so no new leader starts while this one's jobs still run (a job
        ignoring ``stop`` past the deadline is logged and runs on unfenced).
        """
        tenure = self._tenure
        if tenure is not None:
            tenure.pause()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        if _in_event_loop():  # async jobs cannot finish while we block their loop: cancelled
            log.info("shutdown in the event loop: async jobs are cancelled, not awaited")
        elif tenure is not None and not tenure.wait_idle(self._clock):
            log.warning("%d job(s) of %r still running at shutdown", tenure.running, tenure.name)
        self.elector.close()

    def admit(self, fire_time: datetime) -> Tenure | None:
        """The live, unpaused tenure that may run ``fire_time`` now, or None."""
        tenure = self._tenure
        if (
            tenure is None
            or tenure.paused
            or not self.elector.is_leader
            or self.elector.in_jeopardy
        ):
            return None
        return tenure if tenure.began_by(fire_time, self._clock) else None

    def held(self) -> bool:
        """True while leading in jeopardy: fire times falling due now wait for recovery."""
        tenure = self._tenure
        return tenure is not None and tenure.paused and not tenure.ended

    def claim(self, job_id: str, fire_time: datetime, tenure: Tenure) -> bool:
        """Raise the job's store mark to ``fire_time`` under ``tenure``'s token (one round trip).

        False if some tenure already admitted this fire time or a later one, or the store could
        not be reached: a fire time runs at most once, never twice.
        """
        try:
            return self.elector.backend.advance_mark(
                self.elector.name, mark_of(job_id), micros(fire_time), tenure.lease.token
            )
        except LeaselectError as exc:
            log.warning(
                "job %s at %s skipped: the store did not record it: %s", job_id, fire_time, exc
            )
            return False

    # -- the elector's own path (deadline watchdog, renewals): flags only, never blocks -------

    def _observe(self, effect: Effect) -> None:
        if isinstance(effect, Elected):
            self._tenure = Tenure(effect.lease, self._clock.now())
            return
        tenure = self._tenure
        if tenure is None or tenure.lease is not effect.lease:
            return
        if isinstance(effect, Jeopardy):
            tenure.pause()
        elif isinstance(effect, Recovered):
            tenure.resume()
            self.executor.flush_held()
        elif isinstance(effect, Lost):
            self._tenure = None
            tenure.end()
            self.executor.flush_held()
            if tenure.running:
                log.warning(
                    "%d job(s) of %r still running after token=%d was lost (%s)",
                    tenure.running,
                    tenure.name,
                    tenure.lease.token,
                    effect.reason.value,
                )
