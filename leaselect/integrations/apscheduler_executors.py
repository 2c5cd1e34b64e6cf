"""The executors ``LeaderScheduler`` installs: each fire time is gated, claimed, then run.

``EVENT_JOB_SKIPPED`` (a ``JobSubmissionEvent``) reports fire times this process did not run:
it does not lead, the tenure ended, or an earlier tenure already admitted that fire time.
Listen with ``scheduler.add_listener(fn, EVENT_JOB_SKIPPED)`` (it is outside ``EVENT_ALL``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from apscheduler.events import JobSubmissionEvent  # type: ignore[import-untyped]
from apscheduler.executors.base import (  # type: ignore[import-untyped]
    MaxInstancesReachedError,
    run_coroutine_job,
    run_job,
)
from apscheduler.executors.pool import BasePoolExecutor  # type: ignore[import-untyped]
from apscheduler.util import iscoroutinefunction_partial  # type: ignore[import-untyped]

from ..signalmask import in_quiet_thread
from ._tenure import CURRENT, JobContext, JobTenure

log = logging.getLogger("leaselect")

EVENT_JOB_SKIPPED = 2**20


class Gate(Protocol):
    """What the executors use of ``LeaderScheduler``: admission, the store claim, the start."""

    def admit(self, fire_time: datetime) -> JobTenure | None: ...

    def held(self) -> bool: ...

    def claim(self, job_id: str, fire_time: datetime, tenure: JobTenure) -> bool: ...

    def begin(
        self, tenure: JobTenure, cancel: Callable[[], None] | None = None
    ) -> threading.Event | None: ...


class LeaderExecutor(BasePoolExecutor):  # type: ignore[misc]
    """A thread-pool executor that runs a fire time only if ``gate`` admits and claims it."""

    def __init__(self, gate: Gate, max_workers: int = 10) -> None:
        super().__init__(concurrent.futures.ThreadPoolExecutor(max_workers))
        self._gate = gate
        self._held: dict[str, tuple[Any, list[datetime]]] = {}
        self._held_lock = threading.Lock()
        self._claiming: Counter[str] = Counter()  # instances per job still claiming/waiting
        self._behind: dict[str, tuple[Any, list[datetime]]] = {}

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        run_times = self._hold_behind_claim(job, run_times)
        admitted, skipped = [], []
        for fire_time in run_times:
            if self._gate.admit(fire_time) is not None:
                admitted.append(fire_time)
            elif self._gate.held():
                self._hold(job, fire_time)
            else:
                skipped.append(fire_time)
        if skipped:
            log.debug("job %s: %d fire time(s) skipped: not leading", job.id, len(skipped))
            self.report_skipped(job, skipped)
        if admitted:
            super().submit_job(job, admitted)

    def _hold_behind_claim(self, job: Any, run_times: list[datetime]) -> list[datetime]:
        """Fire times APScheduler would refuse because every instance of ``job`` is busy while
        one of them still waits for its claim: held until that instance ended, then submitted
        (``coalesce`` keeps the last). Returns the fire times to submit now."""
        with self._held_lock:
            busy = self._instances[job.id] >= job.max_instances
            if not run_times or not busy or self._claiming[job.id] == 0:
                return run_times
            times = [*self._behind.get(job.id, (job, []))[1], *run_times]
            self._behind[job.id] = (job, times[-1:] if job.coalesce else times)
        return []

    def _claimed(self, job_id: str, count: int) -> None:
        with self._held_lock:
            self._claiming[job_id] += count
            if self._claiming[job_id] <= 0:
                del self._claiming[job_id]

    def report_skipped(self, job: Any, fire_times: list[datetime]) -> None:
        """Dispatch ``EVENT_JOB_SKIPPED`` for ``fire_times`` of ``job``."""
        event = JobSubmissionEvent(EVENT_JOB_SKIPPED, job.id, job._jobstore_alias, fire_times)
        self._scheduler._dispatch_event(event)

    def _hold(self, job: Any, fire_time: datetime) -> None:
        """Keep a fire time due in jeopardy for recovery (only the last one if coalescing)."""
        with self._held_lock:
            times = [*self._held.get(job.id, (job, []))[1], fire_time]
            self._held[job.id] = (job, times[-1:] if job.coalesce else times)
        if not self._gate.held():  # recovered or lost meanwhile: nobody else will flush
            self.flush_held()

    def flush_held(self) -> None:
        """Resubmit held fire times (recovery) or report them skipped (loss); never blocks."""
        with self._held_lock:
            held, self._held = list(self._held.values()), {}
        if held:
            try:
                self._pool.submit(self._resubmit, held)
            except RuntimeError:  # the pool is shut down
                log.info("%d held job(s) dropped at shutdown", len(held))

    def _resubmit(self, held: list[tuple[Any, list[datetime]]]) -> None:
        for job, fire_times in held:
            try:
                self.submit_job(job, fire_times)
            except MaxInstancesReachedError:
                self.report_skipped(job, fire_times)
            except RuntimeError:  # the pool is shut down
                log.info("held fire times of job %s dropped at shutdown", job.id)
            except Exception:
                log.exception("resubmitting held fire times of job %s failed", job.id)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._claimed(job.id, 1)
        future = self._pool.submit(
            run_admitted,
            self._gate,
            job,
            job._jobstore_alias,
            run_times,
            self._logger.name,
            functools.partial(self._claimed, job.id, -1),
        )
        future.add_done_callback(lambda done: self._report(job, done))

    def _report(self, job: Any, done: concurrent.futures.Future[list[Any]]) -> None:
        error = done.exception()
        if error is not None:
            self._run_job_error(job.id, error, error.__traceback__)
        else:
            self._run_job_success(job.id, done.result())
        with self._held_lock:
            job, behind = self._behind.pop(job.id, (job, []))
        if behind:
            self._resubmit([(job, behind)])


class LeaderAsyncIOExecutor(LeaderExecutor):
    """For ``AsyncIOScheduler``: ``async def`` jobs run as tasks in the scheduler's loop and
    are cancelled when the tenure ends (as ``AsyncElector`` cancels its body); plain
    functions run in the thread pool like ``LeaderExecutor``'s."""

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._loop: asyncio.AbstractEventLoop = scheduler._eventloop

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        if not iscoroutinefunction_partial(job.func):
            super()._do_submit_job(job, run_times)
            return
        self._claimed(job.id, 1)
        coroutine = run_admitted_async(
            self._gate,
            job,
            job._jobstore_alias,
            run_times,
            self._logger.name,
            functools.partial(self._claimed, job.id, -1),
        )
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        future.add_done_callback(lambda done: self._report(job, done))


def _skip(gate: Gate, job: Any, jobstore: str, fire_time: datetime) -> Any:
    log.info("job %s at %s skipped: not leading, or already admitted", job.id, fire_time)
    return JobSubmissionEvent(EVENT_JOB_SKIPPED, job.id, jobstore, [fire_time])


def _once(callback: Callable[[], None]) -> Callable[[], None]:
    """``callback``, called at most once however often the result is called."""
    pending = [callback]

    def call() -> None:
        if pending:
            pending.pop()()

    return call


def run_admitted(
    gate: Gate,
    job: Any,
    jobstore: str,
    run_times: list[datetime],
    logger: str,
    claimed: Callable[[], None] = lambda: None,
) -> list[Any]:
    """Run each fire time the gate admits, the store lets it claim, and the tenure can still
    run once the claim returned (``LeaderScheduler.begin``: checked right before the start).
    ``claimed()`` is called once, when the claims and waits are over."""
    events: list[Any] = []
    claimed = _once(claimed)
    for index, fire_time in enumerate(run_times):
        tenure = gate.admit(fire_time)
        stop = None
        try:
            if tenure is not None and gate.claim(job.id, fire_time, tenure):
                stop = gate.begin(tenure)
        finally:
            if index == len(run_times) - 1:
                claimed()
        if tenure is None or stop is None:
            events.append(_skip(gate, job, jobstore, fire_time))
            continue
        token = CURRENT.set(JobContext(tenure.lease, fire_time, stop))
        try:
            events += run_job(job, jobstore, [fire_time], logger)
        finally:
            tenure.leave()
            CURRENT.reset(token)
    return events


async def run_admitted_async(
    gate: Gate,
    job: Any,
    jobstore: str,
    run_times: list[datetime],
    logger: str,
    claimed: Callable[[], None] = lambda: None,
) -> list[Any]:
    """``run_admitted`` for coroutine jobs: the claim runs in a thread, the job in this task,
    started in the same loop step as the final check (no code of it runs after its tenure)."""
    events: list[Any] = []
    claimed = _once(claimed)
    for index, fire_time in enumerate(run_times):
        tenure = gate.admit(fire_time)
        try:
            won = tenure is not None and await in_quiet_thread(
                gate.claim, job.id, fire_time, tenure
            )
        except BaseException:
            claimed()
            raise
        last = claimed if index == len(run_times) - 1 else (lambda: None)
        ran = None
        if tenure is not None and won:
            ran = await _run_one_async(tenure, job, jobstore, fire_time, logger, last)
        else:
            last()
        if ran is None:
            events.append(_skip(gate, job, jobstore, fire_time))
        else:
            events += ran
    return events


async def _run_one_async(
    tenure: JobTenure,
    job: Any,
    jobstore: str,
    fire_time: datetime,
    logger: str,
    claimed: Callable[[], None],
) -> list[Any] | None:
    task, loop = asyncio.current_task(), asyncio.get_running_loop()
    assert task is not None

    def cancel() -> None:
        loop.call_soon_threadsafe(task.cancel, f"leadership of {tenure.name!r} lost")

    try:
        while (stop := tenure.try_enter(cancel)) is None:
            if not await in_quiet_thread(tenure.wait_live):
                return None
    finally:
        claimed()
    token = CURRENT.set(JobContext(tenure.lease, fire_time, stop))
    try:  # no await between the check above and the job's first line
        return list(await run_coroutine_job(job, jobstore, [fire_time], logger))
    finally:
        tenure.leave(cancel)
        CURRENT.reset(token)
        uncancel = getattr(task, "uncancel", None)  # Python 3.11+
        if tenure.ended and uncancel is not None and task.cancelling():  # type: ignore[attr-defined]
            uncancel()  # the job saw its CancelledError; the runner carries on
