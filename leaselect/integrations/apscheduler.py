"""APScheduler 3.x: run a scheduler's jobs only in the process that leads, each fire time once.

``LeaderScheduler(scheduler, url, name)`` gates every executor of the scheduler: it installs a
leader-gated ``default`` executor (``LeaderAsyncIOExecutor`` for an ``AsyncIOScheduler``, else
``LeaderExecutor``) and replaces every thread-pool/asyncio executor, also one added later, by a
gated one of the same size; any other executor is refused (``ConfigError``).
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
import threading
from collections.abc import Callable
from datetime import datetime
from threading import Event
from typing import TYPE_CHECKING, Any

from apscheduler.executors.asyncio import AsyncIOExecutor  # type: ignore[import-untyped]
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]

from ..backend import Backend
from ..clock import SYSTEM_CLOCK, Clock
from ..elector import Elector
from ..errors import ConfigError
from ..machine import Effect, Elected, Jeopardy, Lost, Recovered
from ..signalmask import start_quiet
from ._tenure import JobContext, JobTenure
from .apscheduler_executors import EVENT_JOB_SKIPPED, LeaderAsyncIOExecutor, LeaderExecutor
from .apscheduler_jobs import checked_add_job, current_job, mark_of, micros

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..options import ElectorKeywords

log = logging.getLogger("leaselect")

__all__ = [
    "EVENT_JOB_SKIPPED",
    "JobContext",
    "LeaderAsyncIOExecutor",
    "LeaderExecutor",
    "LeaderScheduler",
    "current_job",
]

_GATEABLE = (ThreadPoolExecutor, AsyncIOExecutor)  # replaced by gated executors of the same size


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


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
        **elector_options: Unpack[ElectorKeywords],
    ) -> None:
        self.scheduler = scheduler
        self._clock = self.clock = clock or SYSTEM_CLOCK
        self._tenure: JobTenure | None = None
        self._shutdown_lock = threading.Lock()
        self._shut_down = False
        self.elector = Elector(backend_or_url, name, clock=self._clock, **elector_options)
        self.elector._observe(self._observe)
        self._executor_class = (
            LeaderAsyncIOExecutor if hasattr(scheduler, "_eventloop") else LeaderExecutor
        )
        self.executors: dict[str, LeaderExecutor] = {}
        try:
            if alias not in scheduler._executors:
                scheduler.add_executor(self._executor_class(self, max_workers), alias)
            self._gate_executors()
            self.executor = self.executors[alias]
            add_executor = scheduler.add_executor
        except BaseException:
            self.elector.close()
            raise

        def add_gated_executor(executor: Any, alias: str = "default", **options: Any) -> None:
            add_executor(executor, alias, **options)
            self._gate_executors()

        scheduler.add_executor = add_gated_executor  # executors added later are gated too
        scheduler.add_job = checked_add_job(scheduler.add_job)

    def start(self) -> None:
        """Start campaigning and the scheduler (if it is not running yet)."""
        self._gate_executors()
        for job in self.scheduler.get_jobs():  # also those added before this gate existed
            if getattr(job.trigger, "jitter", None):
                raise ConfigError(f"job {job.id!r}: jitter is not supported under LeaderScheduler")
        self.elector.start()
        if not self.scheduler.running:
            self.scheduler.start()

    def _gate_executors(self) -> None:
        """Replace every thread-pool/asyncio executor of the scheduler by a gated one of the
        same size; refuse any other kind (its jobs would run on followers)."""
        with self.scheduler._executors_lock:
            executors = dict(self.scheduler._executors)
        for alias, executor in executors.items():
            if isinstance(executor, LeaderExecutor):
                if executor._gate is not self:
                    raise ConfigError(f"executor {alias!r} is gated by another LeaderScheduler")
                self.executors[alias] = executor
                continue
            if type(executor) not in _GATEABLE:
                raise ConfigError(
                    f"LeaderScheduler cannot gate executor {alias!r} "
                    f"({type(executor).__name__}): its jobs would run on followers; use "
                    "thread-pool or asyncio executors"
                )
            pool = getattr(executor, "_pool", None)
            gated = self._executor_class(self, getattr(pool, "_max_workers", 10))
            with self.scheduler._executors_lock:
                self.scheduler._executors[alias] = gated
            if self.scheduler.running:
                gated.start(self.scheduler, alias)
                executor.shutdown(wait=False)
            self.executors[alias] = gated

    def shutdown(self, wait: bool = True) -> None:
        """Stop running jobs, shut the scheduler down, then step down.

        Whatever ``wait`` says, the lease is released only once the running jobs returned or the
        local deadline passed, so no new leader starts while this one's jobs still run (a job
        ignoring ``stop`` past the deadline is logged and runs on unfenced). Called inside the
        event loop, it waits so for thread-pool jobs; async jobs are cancelled instead.
        """
        with self._shutdown_lock:
            if self._shut_down:
                return
            self._shut_down = True
        tenure = self._tenure
        if tenure is not None:
            tenure.close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        in_loop = _in_event_loop()
        if in_loop:  # async jobs cannot finish while we block their loop: cancelled
            log.info("shutdown in the event loop: async jobs are cancelled, not awaited")
        if tenure is not None and not tenure.wait_idle(threads_only=in_loop):
            log.warning("%d job(s) of %r still running at shutdown", tenure.running, tenure.name)
        self.elector.close()

    def admit(self, fire_time: datetime) -> JobTenure | None:
        """The live, unpaused tenure that may run ``fire_time`` now, or None."""
        tenure = self._tenure
        if (
            tenure is None
            or tenure.paused
            or not self.elector.is_leader
            or self.elector.in_jeopardy
        ):
            return None
        return tenure if tenure.began_by(fire_time) else None

    def held(self) -> bool:
        """True while leading in jeopardy: fire times falling due now wait for recovery."""
        tenure = self._tenure
        return tenure is not None and tenure.paused and not tenure.ended

    def claim(self, job_id: str, fire_time: datetime, tenure: JobTenure) -> bool:
        """Raise the job's store mark to ``fire_time`` under ``tenure``'s token (one round trip).

        False if some tenure already admitted this fire time or a later one, or the store could
        not be reached: a fire time runs at most once, never twice. Never waits past the lease's
        local deadline or the tenure's end: a claim still unanswered then counts as refused
        (its thread ends when the store answers; the fire time is lost, never run late).
        """
        answer: list[bool | Exception] = []
        settled = threading.Event()

        def attempt() -> None:
            try:
                answer.append(
                    self.elector.backend.advance_mark(
                        self.elector.name, mark_of(job_id), micros(fire_time), tenure.lease.token
                    )
                )
            except Exception as exc:  # reported by the waiter, if it still waits
                answer.append(exc)
            finally:
                settled.set()

        tenure.wake_at_end(settled.set)
        try:
            start_quiet(
                threading.Thread(target=attempt, name=f"leaselect-claim-{job_id}"[:64], daemon=True)
            )
            while not settled.is_set():
                left = tenure.left()
                if left <= 0 or not self._clock.wait(settled, left):
                    break
        finally:
            tenure.wake_at_end(settled.set, add=False)
        result = answer[0] if answer else None
        if isinstance(result, bool):
            return result
        why = "no answer before the tenure ended" if result is None else str(result)
        log.warning("job %s at %s skipped: the store did not record it: %s", job_id, fire_time, why)
        return False

    def begin(self, tenure: JobTenure, cancel: Callable[[], None] | None = None) -> Event | None:
        """After a claim: the job's stop event if ``tenure`` may start it now, waiting through
        jeopardy until recovery (never past the deadline); None if the tenure ended, shut down
        or reached its deadline first."""
        while True:
            stop = tenure.try_enter(cancel)
            if stop is not None:
                return stop
            if not tenure.wait_live():
                return None

    def _flush_held(self) -> None:
        for executor in list(self.executors.values()):
            executor.flush_held()

    # -- the elector's own path (deadline watchdog, renewals): flags only, never blocks -------

    def _observe(self, effect: Effect) -> None:
        if isinstance(effect, Elected):
            now = self._clock.now()
            self._tenure = JobTenure(effect.lease, self._clock, now, self.elector.timing)
            return
        tenure = self._tenure
        if tenure is None or tenure.lease is not effect.lease:
            return
        if isinstance(effect, Jeopardy):
            tenure.pause()
        elif isinstance(effect, Recovered):
            tenure.resume()
            self._flush_held()
        elif isinstance(effect, Lost):
            self._tenure = None
            tenure.end()
            self._flush_held()
            if tenure.running:
                log.warning(
                    "%d job(s) of %r still running after token=%d was lost (%s)",
                    tenure.running,
                    tenure.name,
                    tenure.lease.token,
                    effect.reason.value,
                )
