"""Determinism for a threaded elector: a tracked fake clock, joins on that clock, and ``settle``.

``settle`` returns once every thread but the test's is parked: blocked in a store request the
test has not decided, in a clock wait whose event is unset and whose time has not come, in a
join of a live thread on the fake clock, or anywhere else with a frame that stays put. The next
step then starts from the same state whatever the thread timing was.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
import types
from collections.abc import Iterator

import leaselect.dispatch
import leaselect.elector_campaign
import leaselect.elector_tenure
import leaselect.keeper
import leaselect.watchdog

SETTLE_LIMIT = 20.0  # real seconds; a step whose threads never park is a livelock (or a bug)
SAMPLE = 0.002


class ModelClock:
    """A clock that moves only when told, and knows who waits on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.waiters: dict[int, tuple[threading.Event | None, float | None]] = {}

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        with self._lock:
            self._now = max(self._now, when)

    def next_due(self, until: float) -> float | None:
        """The earliest waiter timeout after now and no later than ``until``."""
        with self._lock:
            due = [
                u
                for e, u in self.waiters.values()
                if u is not None and self._now < u <= until and not (e and e.is_set())
            ]
            return min(due, default=None)

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        ident = threading.get_ident()
        with self._lock:
            until = None if timeout is None else self._now + timeout
            self.waiters[ident] = (event, until)
        try:
            while not event.is_set():
                if until is not None and self.now() >= until:
                    return False
                event.wait(SAMPLE)
            return True
        finally:
            with self._lock:
                self.waiters.pop(ident, None)

    def parked(self, ident: int) -> bool | None:
        """True if ``ident`` waits here and cannot wake now; None if it does not wait here."""
        with self._lock:
            if ident not in self.waiters:
                return None
            event, until = self.waiters[ident]
            return not (event is not None and event.is_set()) and (
                until is None or self._now < until
            )


class Threads:
    """Joins that time out on the model clock, thread deaths, and the settle loop."""

    def __init__(self, clock: ModelClock, blocked: dict[int, object]) -> None:
        self.clock = clock
        self.before = set(threading.enumerate())  # threads of earlier examples are not ours
        self.blocked = blocked  # the store's thread ident -> request
        self.deaths: list[str] = []
        self.joining: dict[int, tuple[threading.Thread, float | None]] = {}
        self.lock = threading.Lock()

    def join(self, thread: threading.Thread, timeout: float | None) -> None:
        ident = threading.get_ident()
        until = None if timeout is None else self.clock.now() + timeout
        with self.lock:
            self.joining[ident] = (thread, until)
        try:
            while thread.is_alive() and (until is None or self.clock.now() < until):
                threading.Thread.join(thread, SAMPLE)
        finally:
            with self.lock:
                self.joining.pop(ident, None)

    def died(self, args: threading.ExceptHookArgs) -> None:
        if args.thread in self.before:
            return
        name = args.thread.name if args.thread is not None else "?"
        lines = traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        self.deaths.append(f"thread {name} died: {''.join(lines[-3:]).strip()}")

    def _state(self, thread: threading.Thread) -> object:
        ident = thread.ident
        assert ident is not None
        if ident in self.blocked:
            return ("store", id(self.blocked[ident]))
        parked = self.clock.parked(ident)
        if parked is not None:
            return ("clock",) if parked else None
        with self.lock:
            joining = self.joining.get(ident)
        if joining is not None:
            target, until = joining
            alive = target.is_alive() and (until is None or self.clock.now() < until)
            return ("join", target.ident) if alive else None
        frame = sys._current_frames().get(ident)
        if frame is None:
            return None
        ran = _kernel_view(thread)
        if ran == "runnable":
            return None  # on a run queue: it has work to do, whatever its frame says
        return (id(frame.f_code), frame.f_lineno, ran)

    def snapshot(self) -> tuple[object, ...] | None:
        me = threading.current_thread()
        states = []
        for thread in threading.enumerate():
            if thread is me or not thread.is_alive() or thread.ident is None:
                continue
            state = self._state(thread)
            if state is None:
                return None
            states.append((thread.ident, state))
        return tuple(sorted(states, key=lambda s: s[0]))

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on, stopping at every waiter's timeout on the way and
        settling there, so threads due at different times wake one after the other."""
        target = self.clock.now() + seconds
        while (due := self.clock.next_due(target)) is not None:
            self.clock.set(due)
            self.settle()
        self.clock.set(target)
        self.settle()

    def settle(self) -> None:
        """Return once every other thread is parked (the same state in 4 samples)."""
        limit = time.monotonic() + SETTLE_LIMIT
        last: tuple[object, ...] | None = None
        stable = 0
        while time.monotonic() < limit:
            snap = self.snapshot()
            stable = stable + 1 if snap is not None and snap == last else 0
            if stable >= 3:
                return
            last = snap
            time.sleep(SAMPLE)
        raise AssertionError("threads never settled (livelock?):\n" + stacks())


def _kernel_view(thread: threading.Thread) -> object:
    """ "runnable" if the kernel has ``thread`` on a run queue, else its CPU time so far (a
    thread descheduled under load keeps its frame but is not parked; one that ran between two
    samples shows a new CPU time). None where ``/proc`` does not say."""
    task = f"/proc/self/task/{thread.native_id}"
    try:
        with open(f"{task}/stat") as f:
            stat = f.read()
        with open(f"{task}/schedstat") as f:
            ran = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return "runnable" if stat[stat.rfind(")") + 2 :].startswith("R") else ran


def stacks() -> str:
    """Every thread's stack, for a failure message."""
    frames = sys._current_frames()
    out = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or 0)
        if frame is not None:
            out.append(f"--- {thread.name}\n" + "".join(traceback.format_stack(frame)[-4:]))
    return "\n".join(out)


def _thread_class(threads: Threads) -> type[threading.Thread]:
    class ModelThread(threading.Thread):
        """A leaselect thread whose timed joins run on the model clock."""

        def join(self, timeout: float | None = None) -> None:
            threads.join(self, timeout)

    return ModelThread


@contextlib.contextmanager
def controlled(threads: Threads) -> Iterator[None]:
    """Let leaselect's threads join on the model clock and report deaths to ``threads``."""
    shim = types.SimpleNamespace(**vars(threading))
    shim.Thread = _thread_class(threads)
    modules = [
        leaselect.elector_campaign,
        leaselect.elector_tenure,
        leaselect.dispatch,
        leaselect.keeper,
        leaselect.watchdog,
    ]
    saved = [module.threading for module in modules]
    hook = threading.excepthook
    for module in modules:
        module.threading = shim  # type: ignore[attr-defined]
    threading.excepthook = threads.died
    try:
        yield
    finally:
        threading.excepthook = hook
        for module, original in zip(modules, saved, strict=True):
            module.threading = original  # type: ignore[attr-defined]
