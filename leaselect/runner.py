"""``LeaderOnly`` / ``leader_only``: run a function only while this process leads.

The function runs in a worker thread as ``fn(lease, stop)``. ``stop`` (a ``threading.Event``) is
set when the tenure ends (lost, taken, released) or ``stop_grace`` seconds before the local
deadline if renewals stall. The runner then waits for the function until the deadline plus the
lease margin (the time the store still keeps the lease), logs a warning naming a function that
ignored the signal, and campaigns again once the function has returned. A thread cannot be
killed: a function that never checks ``stop`` keeps running unfenced, so pass ``lease.token`` to
every resource it writes to.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .backend import Backend
from .clock import SYSTEM_CLOCK, Clock
from .elector import Elector, OnElected, OnLost
from .errors import ConfigError
from .lease import Lease, LostReason

log = logging.getLogger("leaselect")

T = TypeVar("T")
LeaderFn = Callable[[Lease, threading.Event], T]


class _Outcome(Generic[T]):
    """What one run of the leader function produced."""

    def __init__(self) -> None:
        self.result: T | None = None
        self.error: BaseException | None = None

    def capture(
        self, fn: LeaderFn[T], lease: Lease, stop: threading.Event, done: Callable[[], None]
    ) -> None:
        try:
            self.result = fn(lease, stop)
        except BaseException as exc:  # reported by the runner, never lost
            self.error = exc
        finally:
            done()

    def unwrap(self) -> T | None:
        if self.error is not None:
            raise self.error
        return self.result


class LeaderOnly:
    """Runs ``fn(lease, stop)`` while this process leads ``name``; campaigns again after each loss.

    ``run(fn)`` returns ``fn``'s result once it returns by itself while still leading (the tenure
    is then released), re-raises its exception likewise, and returns None after ``stop()``.
    Remaining keyword options go to ``Elector`` (``ttl``, ``identity``, ``metadata``,
    ``margin``, ``drift``, ``renew_interval``, ``on_elected``, ``on_lost``, ``on_jeopardy``).
    """

    def __init__(
        self,
        backend_or_url: Backend | str,
        name: str,
        *,
        stop_grace: float = 0.0,
        clock: Clock | None = None,
        **elector_options: Any,
    ) -> None:
        if stop_grace < 0:
            raise ConfigError("stop_grace must not be negative")
        self._target = backend_or_url
        self.name = name
        self.stop_grace = stop_grace
        self._clock = clock or SYSTEM_CLOCK
        self._user: tuple[OnElected | None, OnLost | None, OnElected | None] = (
            elector_options.pop("on_elected", None),
            elector_options.pop("on_lost", None),
            elector_options.pop("on_jeopardy", None),
        )
        self._options = elector_options
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._pending: Lease | None = None
        self._shutdown = False
        self.elector: Elector | None = None

    # -- public API ---------------------------------------------------------------------------

    def run(self, fn: LeaderFn[T]) -> T | None:
        """Run ``fn`` in every tenure until it completes or ``stop()`` is called."""
        with self._cond:
            self._shutdown, self._pending = False, None
        elector = self._open()
        try:
            elector.start()
            while (lease := self._next_tenure()) is not None:
                finished, outcome = self._serve(elector, fn, lease)
                if finished:
                    return outcome.unwrap()
            return None
        finally:
            elector.close()

    def stop(self) -> None:
        """Ask ``run`` to stop the function, step down and return (thread-safe)."""
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
        self._wake.set()

    # -- tenures ------------------------------------------------------------------------------

    def _open(self) -> Elector:
        self.elector = Elector(
            self._target,
            self.name,
            clock=self._clock,
            on_elected=self._on_elected,
            on_lost=self._on_lost,
            on_jeopardy=self._on_jeopardy,
            **self._options,
        )
        if self.stop_grace >= self.elector.timing.usable(self.elector.timing.ttl):
            self.elector.close()
            raise ConfigError(
                f"stop_grace {self.stop_grace:g}s must be below the usable lease "
                f"{self.elector.timing.usable(self.elector.timing.ttl):.3f}s"
            )
        return self.elector

    def _next_tenure(self) -> Lease | None:
        """Block until a live tenure begins (None after ``stop``)."""
        with self._cond:
            while not self._shutdown:
                lease, self._pending = self._pending, None
                if lease is not None and self._clock.now() < lease.deadline:
                    return lease
                self._cond.wait()
        return None

    def _serve(self, elector: Elector, fn: LeaderFn[T], lease: Lease) -> tuple[bool, _Outcome[T]]:
        """Run one tenure; True when ``fn`` completed by itself while leading."""
        stop = threading.Event()
        outcome: _Outcome[T] = _Outcome()
        label = getattr(fn, "__qualname__", repr(fn))
        worker = threading.Thread(
            target=outcome.capture,
            args=(fn, lease, stop, self._wake.set),
            name=f"leaselect-leader-{label}",
            daemon=True,
        )
        worker.start()
        self._supervise(lease, stop, worker)
        if not stop.is_set():
            elector.release()
            return True, outcome
        self._drain(elector, lease, worker, label, outcome)
        return False, outcome

    def _supervise(self, lease: Lease, stop: threading.Event, worker: threading.Thread) -> None:
        """Return when the worker ended, or set ``stop`` when the tenure is ending."""
        while True:
            self._wake.clear()
            if not worker.is_alive():
                return
            now = self._clock.now()
            signal_at = lease.deadline - self.stop_grace
            if self._shutdown or now >= signal_at:
                stop.set()
                return
            self._clock.wait(self._wake, signal_at - now)

    def _drain(
        self,
        elector: Elector,
        lease: Lease,
        worker: threading.Thread,
        label: str,
        outcome: _Outcome[T],
    ) -> None:
        """Wait for a stopped function until the store may expire the lease; report a laggard."""
        margin = elector.timing.safety_margin
        worker.join(max(0.0, lease.deadline - self._clock.now()) + margin)
        still_leading = self._clock.now() < lease.deadline
        if worker.is_alive():
            log.warning(
                "leader-only function %s ignored the stop signal of %r token=%d: its tenure "
                "ends anyway and it keeps running unfenced",
                label,
                self.name,
                lease.token,
            )
        elif outcome.error is not None:
            log.info("leader-only function %s stopped with %r", label, outcome.error)
        if still_leading or worker.is_alive():
            elector.release()  # the tenure ends anyway
        if self._shutdown:
            return
        if worker.is_alive():
            worker.join()  # never run two copies side by side
            log.info("leader-only function %s returned at last; campaigning again", label)
        elector.start()  # idempotent when the elector is still campaigning

    # -- elector callbacks (callback thread) ----------------------------------------------------

    def _on_elected(self, lease: Lease) -> None:
        with self._cond:
            self._pending = lease
            self._cond.notify_all()
        if self._user[0] is not None:
            self._user[0](lease)

    def _on_lost(self, lease: Lease, reason: LostReason) -> None:
        self._wake.set()
        if self._user[1] is not None:
            self._user[1](lease, reason)

    def _on_jeopardy(self, lease: Lease) -> None:
        self._wake.set()
        if self._user[2] is not None:
            self._user[2](lease)


class LeaderFunction(Generic[T]):
    """A function decorated with ``leader_only``: calling it runs it only while leading."""

    def __init__(self, fn: LeaderFn[T], runner: LeaderOnly) -> None:
        self.fn = fn
        self.runner = runner
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", "leader_function")

    def __call__(self) -> T | None:
        """Campaign, run the function while leading; see ``LeaderOnly.run``."""
        return self.runner.run(self.fn)

    def stop(self) -> None:
        """Stop a running call (thread-safe)."""
        self.runner.stop()


def leader_only(
    backend_or_url: Backend | str, name: str, **options: Any
) -> Callable[[LeaderFn[T]], LeaderFunction[T]]:
    """Decorator: ``@leader_only(url, "name", ttl=10)`` over ``def job(lease, stop): ...``."""

    def decorate(fn: LeaderFn[T]) -> LeaderFunction[T]:
        return LeaderFunction(fn, LeaderOnly(backend_or_url, name, **options))

    return decorate
