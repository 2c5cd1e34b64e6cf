"""One thread per clock that ticks every leading elector's state machine at its deadlines.

A leader needs no thread of its own: its lease is renewed by the session's keeper and its
tenure ends at a time the machine names (jeopardy, the local deadline). The watchdog keeps the
watched tenures in a heap by that time, wakes at the earliest, and asks each due one for its
next time; a tenure whose state changed elsewhere (a renewal, a failure, a release) is poked
and looked at at once. The thread exists while it watches something, and for ``LINGER``
seconds after while electors that may lead again exist (starting a thread on every grant cost
a hand-over 0.3-0.4 ms); the last of them closing ends it at once.

``is_leader`` does not depend on it (it reads the clock); the ``lost`` event, observers and
``on_lost`` do, so a tick only takes the elector's lock and queues callbacks, never I/O.

A parked wait's time limit is watched the same way (``parking.Parked``): its one tick resumes
the wait and asks for no more.
"""

from __future__ import annotations

import heapq
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

from .clock import Clock
from .deferred import batch
from .signalmask import start_quiet

log = logging.getLogger("leaselect")

LINGER = 5.0  # real seconds an idle thread waits for the next tenure while electors exist


class Watched(Protocol):
    def _tick_tenure(self) -> float | None:
        """Apply the machine's tick; the next time to be ticked, or None when done."""
        ...


class Watchdog:
    """Ticks watched tenures at the times they ask for, on one thread."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._heap: list[tuple[float, int]] = []
        self._watched: dict[int, Watched] = {}
        self._due: dict[int, float] = {}  # the current due time; other heap entries are stale
        self._pokes: dict[int, int] = {}
        self._thread: threading.Thread | None = None
        self._users = 0  # open electors on this clock (``enlist``): an idle thread lingers

    def enlist(self) -> Callable[[], None]:
        """Count one more elector that may lead; returns what uncounts it (call it once)."""
        with self._lock:
            self._users += 1
        return self._leave

    def _leave(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users <= 0
            thread = self._thread if last and not self._watched else None
        if last:
            self._wake.set()  # a lingering thread ends now
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)  # gone when the last close() returns

    def watch(self, item: Watched, due: float = float("-inf")) -> None:
        """Tick ``item`` at ``due`` (default: now) and then whenever it asks, until a tick
        returns None."""
        with self._lock:
            # the thread sleeps until the earliest entry at most: a later one needs no wake-up
            sooner = not self._heap or due < self._heap[0][0]
            self._watched[id(item)] = item
            self._pokes.setdefault(id(item), 0)
            self._schedule(id(item), due)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="leaselect-watchdog", daemon=True
                )
                start_quiet(self._thread)
        if sooner:
            self._wake.set()

    def poke(self, item: Watched) -> None:
        """Tick ``item`` at once (its machine changed); nothing if it is not watched."""
        with self._lock:
            key = id(item)
            if key not in self._watched:
                return
            self._pokes[key] += 1
            self._schedule(key, float("-inf"))
        self._wake.set()

    def unwatch(self, item: Watched) -> None:
        """Stop ticking ``item`` (a tick already running finishes). The thread is not woken
        (a release would pay for its wake-up): it skips the stale entry when it comes due."""
        with self._lock:
            self._forget(id(item))

    def _schedule(self, key: int, due: float) -> None:
        self._due[key] = due
        heapq.heappush(self._heap, (due, key))

    def _forget(self, key: int) -> None:
        self._watched.pop(key, None)
        self._due.pop(key, None)
        self._pokes.pop(key, None)

    def _run(self) -> None:
        lingered = False
        while True:
            self._wake.clear()  # before reading the heap: a later poke sets it again
            with self._lock:
                if not self._watched:
                    self._heap.clear()  # so the next ``watch`` wakes the lingering thread
                    if lingered or self._users <= 0:
                        self._thread = None
                        return
                    idle = True
                else:
                    idle = False
                    now = self._clock.now()
                    due = self._pop_due(now)
                    earliest = self._heap[0][0] if self._heap else None
            if idle:  # real time, not the clock's: nothing depends on when it ends
                lingered = not self._wake.wait(LINGER)
                continue
            lingered = False
            with batch():  # every due tenure ends before any thread is started for them
                for key, item, pokes in due:
                    self._tick(key, item, pokes)
            if not due:
                self._clock.wait(self._wake, None if earliest is None else earliest - now)

    def _pop_due(self, now: float) -> list[tuple[int, Watched, int]]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            when, key = heapq.heappop(self._heap)
            if self._due.get(key) != when:
                continue  # stale: rescheduled or forgotten since
            del self._due[key]
            due.append((key, self._watched[key], self._pokes[key]))
        return due

    def _tick(self, key: int, item: Watched, pokes: int) -> None:
        try:
            wake = item._tick_tenure()
        except Exception:  # never let one elector stop the others' deadlines
            log.exception("leaselect watchdog: a tenure's tick raised; ticking it again")
            wake = self._clock.now() + 0.1
        with self._lock:
            if self._watched.get(key) is not item:
                return  # unwatched (or replaced) while ticking
            if self._pokes[key] != pokes:
                wake = float("-inf")  # poked while ticking: look again
            if wake is None:
                self._forget(key)
            elif key not in self._due:
                self._schedule(key, wake)


_lock = threading.Lock()
_by_clock: weakref.WeakKeyDictionary[Clock, Watchdog] = weakref.WeakKeyDictionary()
_by_id: dict[int, tuple[Clock, Watchdog]] = {}  # clocks that cannot be weakly referenced


def _forget_all() -> None:
    """In a forked child: the parent's watchdogs have no thread here (and their locks may be
    held by threads that do not exist), so electors made in the child get new ones."""
    global _lock, _by_clock, _by_id
    _lock = threading.Lock()
    _by_clock = weakref.WeakKeyDictionary()
    _by_id = {}


os.register_at_fork(after_in_child=_forget_all)


def watchdog_for(clock: Clock) -> Watchdog:
    """The watchdog of every elector that reads ``clock``."""
    with _lock:
        try:
            found = _by_clock.get(clock)
            if found is None:
                found = _by_clock[clock] = Watchdog(clock)
            return found
        except TypeError:
            if id(clock) not in _by_id:
                _by_id[id(clock)] = (clock, Watchdog(clock))
            return _by_id[id(clock)][1]
