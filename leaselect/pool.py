"""Process-wide threads that run electors' callback queues, kept warm while electors exist.

A callback queued while no thread runs its elector's queue goes to an idle pool thread if there
is one, else to a new one; a thread that finds no more work waits ``LINGER`` seconds for the
next job (at most ``KEEP_IDLE`` threads wait) while electors are open, then ends. Starting a
thread on the way to ``on_lost`` cost 85 ms once on a loaded machine during a store's leader
election, and 0.3-0.4 ms on every callback user's hand-over; an idle thread takes a job in a
wake-up. Nothing bounds the busy threads: a callback that blocks holds one thread, and the
next elector's callbacks get another, so no elector waits for another's callback.

Idle threads block the process signals (see signalmask); a job runs with its elector's mask.
The last elector closing ends the idle threads at once.

A campaign thread that has just won has nothing left to do: the callbacks its win queued
(``on_elected``) are ``claimed`` for it, and it runs them itself and then serves as a pool
thread (``serve_here``), so a hand-over wakes one thread fewer. (``release()`` does not
hold back the ``on_lost`` it queues until the store has been told: a store that does not answer
would delay it past the local deadline; the model-based test found that.)
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence

from .signalmask import PROCESS_SIGNALS, start_quiet

log = logging.getLogger("leaselect")

Job = Callable[[], None]

LINGER = 5.0  # real seconds an idle thread waits for work while electors are open
KEEP_IDLE = 2  # idle threads kept at most; more end as they run out of work


class _Idle:
    """A thread waiting for work: ``run`` hands it a job through ``job`` and ``ready``."""

    __slots__ = ("job", "ready", "thread")

    def __init__(self) -> None:
        self.job: Job | None = None
        self.ready = threading.Event()
        self.thread = threading.current_thread()


class Pool:
    """Runs jobs on threads that linger while users (open electors) exist."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Idle] = []  # the last to idle is the first to work (warmest)
        self._users = 0

    def enlist(self) -> Callable[[], None]:
        """Count one more user; returns what uncounts it (call it once)."""
        with self._lock:
            self._users += 1
        return self._leave

    def _leave(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            ending, self._idle = self._idle, []
        for idle in ending:
            idle.ready.set()  # with no job: the thread ends now
        for idle in ending:  # gone when the last close() returns (they only have to return)
            if idle.thread is not threading.current_thread():
                idle.thread.join(1.0)

    @contextlib.contextmanager
    def claimed(self) -> Iterator[list[Job]]:
        """Inside the block, ``run`` on this thread does not hand jobs to another thread: it
        lists them for this thread to pass to ``serve_here`` (or ``run``) after the block."""
        jobs: list[Job] = []
        outer, _local.claim = getattr(_local, "claim", None), jobs
        try:
            yield jobs
        except BaseException:  # nobody will pass them on: run them as usual
            _local.claim = outer
            for job in jobs:
                self.run(job)
            raise
        finally:
            _local.claim = outer

    def serve_here(self, jobs: list[Job]) -> None:
        """Run ``jobs`` on this thread (a leaselect thread whose own work is done), then serve
        as a pool thread until it has lingered long enough."""
        if not jobs:
            return
        self._serve(jobs[0], jobs[1:])

    def run(self, job: Job) -> None:
        """Run ``job`` (it must not raise) on an idle thread, or on a new one."""
        claim: list[Job] | None = getattr(_local, "claim", None)
        if claim is not None:
            claim.append(job)
            return
        with self._lock:
            if self._idle:
                idle = self._idle.pop()
                idle.job = job
                idle.ready.set()
                return
        # the job in a box the thread empties: a Thread keeps its args while it runs, and an
        # idle thread must not keep the last job's elector (and its backend) alive
        box = [job]
        start_quiet(threading.Thread(target=self._serve_box, args=(box,), name=NAME, daemon=True))

    def _serve_box(self, box: list[Job]) -> None:
        self._serve(box.pop())

    def _serve(self, job: Job, more: Sequence[Job] = ()) -> None:
        me = _Idle()
        thread = threading.current_thread()
        queued = collections.deque(more)
        while True:
            thread.name = NAME
            try:
                job()
            except BaseException:  # the thread serves on: a job's owner handles its errors
                log.exception("leaselect: a callback job raised")
            signal.pthread_sigmask(signal.SIG_BLOCK, PROCESS_SIGNALS)
            if queued:
                job = queued.popleft()
                continue
            job = _nothing  # an idle thread keeps no job (nor what it refers to) alive
            with self._lock:
                if self._users <= 0 or len(self._idle) >= KEEP_IDLE:
                    return
                me.job = None
                me.ready.clear()
                self._idle.append(me)
            thread.name = IDLE_NAME
            me.ready.wait(LINGER)
            with self._lock:
                if me in self._idle:  # lingered long enough, or woken to end
                    self._idle.remove(me)
                next_job = me.job
            if next_job is None:
                return
            job = next_job


def _nothing() -> None:
    """The job an idle thread holds."""


NAME = "leaselect-callbacks"  # a pool thread while it runs a job
IDLE_NAME = "leaselect-callbacks-idle"  # while it waits for one

pool = Pool()
_local = threading.local()


def _new_pool_in_child() -> None:
    """A forked child has none of the parent's pool threads (and its lock may be held)."""
    global pool
    pool = Pool()


os.register_at_fork(after_in_child=_new_pool_in_child)
