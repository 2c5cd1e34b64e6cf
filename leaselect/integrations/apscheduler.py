"""APScheduler 3.x: run a scheduler's jobs only in the process that leads.

``LeaderScheduler(scheduler, url, name)`` installs a ``LeaderExecutor`` as the scheduler's
executor. Every process keeps its scheduler running (so each one advances its jobs' fire times
on its own); the executor runs a fire time only if, when the job is about to start, this process
leads, is not in jeopardy, and its tenure began no later than the fire time. Two processes can
therefore run the same fire time only if their tenures overlap. Pausing the scheduler instead
would be wrong: a scheduler resumed on election runs the fire times it missed while paused,
which the previous leader already ran.

Inside a job, ``current_job()`` gives the ``Lease`` (for the fencing token), the fire time and
the tenure's ``stop`` event, set at jeopardy, at loss and at shutdown. Jobs run in this process's
threads and cannot be killed: a job still running when its tenure ends is logged.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.executors.base import run_job  # type: ignore[import-untyped]
from apscheduler.executors.pool import BasePoolExecutor  # type: ignore[import-untyped]

from ..backend import Backend
from ..clock import SYSTEM_CLOCK, Clock
from ..elector import Elector
from ..errors import NotLeader
from ..lease import Lease, LostReason

log = logging.getLogger("leaselect")


@dataclass(frozen=True)
class JobContext:
    """What a job run by the leader can see: the lease, the fire time and the stop signal."""

    lease: Lease
    fire_time: datetime
    stop: threading.Event


_CALLBACKS = ("on_elected", "on_lost", "on_jeopardy")
_CURRENT: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "leaselect_job", default=None
)


def current_job() -> JobContext:
    """The context of the job running in this thread; ``NotLeader`` outside a leader's job."""
    context = _CURRENT.get()
    if context is None:
        raise NotLeader("not inside a job run by a LeaderScheduler")
    return context


class _Tenure:
    """One tenure as the scheduler sees it: start time, stop signal, jobs still running."""

    def __init__(self, lease: Lease, started: float) -> None:
        self.lease, self.started = lease, started
        self.stop = threading.Event()
        self.running = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.running += 1

    def leave(self) -> None:
        with self._lock:
            self.running -= 1


class LeaderScheduler:
    """Keeps ``scheduler``'s jobs from running unless this process leads ``name``.

    Options not named here go to ``Elector`` (``ttl``, ``identity``, ``metadata`` ...).
    Call ``start()`` instead of ``scheduler.start()`` and ``shutdown()`` at the end.
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
        self._tenure: _Tenure | None = None
        self._user = tuple(elector_options.pop(key, None) for key in _CALLBACKS)
        self.elector = Elector(
            backend_or_url,
            name,
            clock=self._clock,
            on_elected=self._on_elected,
            on_lost=self._on_lost,
            on_jeopardy=self._on_jeopardy,
            **elector_options,
        )
        self.executor = LeaderExecutor(self, max_workers)
        scheduler.add_executor(self.executor, alias)

    def start(self) -> None:
        """Start campaigning and the scheduler (if it is not running yet)."""
        self.elector.start()
        if not self.scheduler.running:
            self.scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        """Signal running jobs to stop, shut the scheduler down, then step down."""
        tenure = self._tenure
        if tenure is not None:
            tenure.stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.elector.close()

    def admit(self, fire_time: datetime) -> _Tenure | None:
        """The live tenure that may run ``fire_time`` now, or None."""
        tenure = self._tenure
        if tenure is None or tenure.stop.is_set() or self.elector.in_jeopardy:
            return None
        now = self._clock.now()
        if now >= tenure.lease.deadline:
            return None
        fire_on_clock = fire_time.timestamp() - (time.time() - now)
        return tenure if fire_on_clock >= tenure.started else None

    def _on_elected(self, lease: Lease) -> None:
        self._tenure = _Tenure(lease, self._clock.now())
        self._forward(0, lease)

    def _on_jeopardy(self, lease: Lease) -> None:
        tenure = self._tenure
        if tenure is not None and tenure.lease is lease:
            tenure.stop.set()
        self._forward(2, lease)

    def _on_lost(self, lease: Lease, reason: LostReason) -> None:
        tenure = self._tenure
        if tenure is not None and tenure.lease is lease:
            tenure.stop.set()
            self._tenure = None
            self._report(tenure, reason)
        self._forward(1, lease, reason)

    def _forward(self, which: int, *args: Any) -> None:
        callback = self._user[which]
        if callback is not None:
            callback(*args)

    @staticmethod
    def _report(tenure: _Tenure, reason: LostReason) -> None:
        lease = tenure.lease
        if tenure.running:
            log.warning(
                "%d job(s) of %r still running after token=%d was lost (%s)",
                tenure.running,
                lease.name,
                lease.token,
                reason.value,
            )


class LeaderExecutor(BasePoolExecutor):  # type: ignore[misc]
    """A thread-pool executor that runs a fire time only if ``gate`` admits it."""

    def __init__(self, gate: LeaderScheduler, max_workers: int = 10) -> None:
        super().__init__(concurrent.futures.ThreadPoolExecutor(max_workers))
        self._gate = gate

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        admitted = [t for t in run_times if self._gate.admit(t) is not None]
        if admitted:
            super().submit_job(job, admitted)
        else:
            log.debug("job %s not submitted: this process does not lead", job.id)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        future = self._pool.submit(
            _run_admitted, self._gate, job, job._jobstore_alias, run_times, self._logger.name
        )

        def report(done: concurrent.futures.Future[list[Any]]) -> None:
            error = done.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__)
            else:
                self._run_job_success(job.id, done.result())

        future.add_done_callback(report)


def _run_admitted(
    gate: LeaderScheduler, job: Any, jobstore: str, run_times: list[datetime], logger: str
) -> list[Any]:
    """Run each fire time the gate still admits at its start, with the job context set."""
    events: list[Any] = []
    for fire_time in run_times:
        tenure = gate.admit(fire_time)
        if tenure is None:
            log.info("job %s at %s skipped: leadership ended", job.id, fire_time)
            continue
        token = _CURRENT.set(JobContext(tenure.lease, fire_time, tenure.stop))
        tenure.enter()
        try:
            events += run_job(job, jobstore, [fire_time], logger)
        finally:
            tenure.leave()
            _CURRENT.reset(token)
    return events
