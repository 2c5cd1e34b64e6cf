"""``LeaderOnly``: run a function only while this process leads.

The function runs in a worker thread as ``fn(lease, stop)``. ``stop`` (a ``threading.Event``) is
set when the tenure ends (lost, taken, released) or ``stop_grace`` seconds before the local
deadline. The signal comes from the elector's own deadline and renewal path, never from the
user-callback thread, so a slow ``on_elected`` cannot delay it. The runner then waits for the
function until the deadline plus the lease margin (the time the store still keeps the lease) and
logs a warning naming a function that ignored the signal. The elector campaigns again right
after a loss; if it leads again before the previous copy returned, the next copy starts only
once it has (never two copies in one process, also across ``run`` calls: a ``run`` after
``stop()`` waits for a copy that ignored ``stop``). A ``run`` interrupted in its own thread
(KeyboardInterrupt, SystemExit) sets ``stop`` and waits for the function until the local
deadline before it steps down and re-raises. A thread cannot be killed: a function that never
checks ``stop`` keeps running unfenced, so pass ``lease.token`` to every resource it writes to.

One ``LeaderOnly`` runs one call at a time: a second concurrent ``run`` raises
``AlreadyRunning``. ``stop()`` before ``run()`` is remembered: that ``run`` returns None at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .backend import Backend
from .checks import check_stop_grace
from .clock import SYSTEM_CLOCK
from .elector import Elector
from .errors import AlreadyRunning
from .lease import Lease
from .machine import Effect, Elected, Jeopardy, Lost
from .options import with_stop_grace
from .tenure import Tenure

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import RunnerOptions

log = logging.getLogger("leaselect")

T = TypeVar("T")
LeaderFn = Callable[[Lease, threading.Event], T]


class _Outcome(Generic[T]):
    """What one run of the leader function produced, and when it returned."""

    def __init__(self) -> None:
        self.result: T | None = None
        self.error: BaseException | None = None
        self.returned_at: float | None = None

    def capture(
        self, fn: LeaderFn[T], lease: Lease, stop: threading.Event, done: Callable[[], None]
    ) -> None:
        try:
            self.result = fn(lease, stop)
        except BaseException as exc:  # reported by the runner, never lost
            self.error = exc
        finally:
            done()

    def finished_in(self, lease: Lease) -> bool:
        """Whether the function returned while ``lease`` was still valid (before it ended)."""
        return self.returned_at is not None and self.returned_at < lease.deadline

    def unwrap(self) -> T | None:
        if self.error is not None:
            raise self.error
        return self.result


class LeaderOnly:
    """Runs ``fn(lease, stop)`` while this process leads ``name``; campaigns again after each loss.

    ``run(fn)`` returns ``fn``'s result once it returns while its lease is still valid (also
    after ``stop_grace`` set ``stop``; the tenure is then released), re-raises its exception
    likewise, and returns None after ``stop()``. A function that returned after its tenure
    ended (even by an instant) did not finish while leading: the runner campaigns and runs it
    again. Remaining keyword options go
    to ``Elector`` (``ttl``, ``identity``, ``metadata``, ``margin``, ``drift``,
    ``renew_interval``, ``release_on_exit``, ``on_elected``, ``on_lost``, ``on_jeopardy``).
    """

    def __init__(
        self,
        backend_or_url: Backend | str,
        name: str,
        *,
        stop_grace: float = 0.0,
        **options: Unpack[RunnerOptions],
    ) -> None:
        self._target = backend_or_url
        self.name = name
        self.stop_grace = check_stop_grace(stop_grace)  # checked against the TTL at run()
        self._clock = options.pop("clock", None) or SYSTEM_CLOCK
        self._options: dict[str, Any] = dict(options)  # Elector's options and callbacks
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: Lease | None = None
        self._running = False
        self._shutdown = False
        self._copy: _Outcome[Any] | None = None  # the last copy of the function started
        self.elector: Elector | None = None

    # -- public API ---------------------------------------------------------------------------

    def run(self, fn: LeaderFn[T], label: str | None = None) -> T | None:
        """Run ``fn`` in every tenure until it completes or ``stop()`` is called."""
        with self._lock:
            if self._running:
                raise AlreadyRunning(f"{self.name!r} is already being run by another call")
            if self._shutdown:  # stop() came first: honour it once
                self._shutdown = False
                return None
            self._running, self._pending = True, None
        try:
            return self._run(fn, label or str(getattr(fn, "__qualname__", repr(fn))))
        finally:
            with self._lock:
                self._running = self._shutdown = False

    def stop(self) -> None:
        """Ask the running (or the next) ``run`` to stop the function, step down and return."""
        with self._lock:
            self._shutdown = True
        self._wake.set()

    # -- tenures ------------------------------------------------------------------------------

    def _run(self, fn: LeaderFn[T], label: str) -> T | None:
        if not self._await_previous_copy(label):  # a laggard of an earlier run still runs
            return None
        elector = self._open()
        try:
            elector.start()
            while (lease := self._next_tenure()) is not None:
                finished, outcome = self._serve(elector, fn, lease, label)
                if finished:
                    return outcome.unwrap()
            return None
        finally:
            elector.close()

    def _open(self) -> Elector:
        options = with_stop_grace(self._options, self.stop_grace)
        elector = Elector(self._target, self.name, clock=self._clock, **options)
        elector._observe(self._observe)
        self.elector = elector
        return elector

    def _observe(self, effect: Effect) -> None:
        """The elector's own path (never the callback thread): wake the supervisor."""
        if isinstance(effect, Elected):
            with self._lock:
                self._pending = effect.lease
        if isinstance(effect, Elected | Jeopardy | Lost):
            self._wake.set()

    def _next_tenure(self) -> Lease | None:
        """Block until a live tenure begins (None after ``stop``)."""
        while True:
            self._wake.clear()
            if self._shutdown:
                return None
            with self._lock:
                lease, self._pending = self._pending, None
            if lease is not None and self._clock.now() < lease.deadline:
                return lease
            self._clock.wait(self._wake, None)

    def _serve(
        self, elector: Elector, fn: LeaderFn[T], lease: Lease, label: str
    ) -> tuple[bool, _Outcome[T]]:
        """Run one tenure; True when ``fn`` returned by itself while the lease was valid."""
        stop = threading.Event()
        outcome: _Outcome[T] = _Outcome()

        def done() -> None:
            outcome.returned_at = self._clock.now()
            self._wake.set()

        worker = threading.Thread(
            target=outcome.capture,
            args=(fn, lease, stop, done),
            name=f"leaselect-leader-{label}",
            daemon=True,
        )
        worker.start()
        self._copy = outcome
        try:
            self._supervise(Tenure(lease, self._clock, elector.timing.stop_grace), stop, outcome)
        except BaseException:  # KeyboardInterrupt/SystemExit in run's thread: stop it first
            stop.set()
            worker.join(max(0.0, lease.deadline - self._clock.now()))
            raise  # run's ``finally`` then steps down
        if not stop.is_set() and outcome.finished_in(lease):
            elector.release()
            return True, outcome
        stop.set()
        self._drain(elector, lease, worker, label, outcome)
        if self._shutdown:
            return False, outcome
        if outcome.finished_in(lease):  # returned at stop_grace, the lease still valid
            return True, outcome
        if not self._await_previous_copy(label):
            return False, outcome
        elector.start()  # idempotent when the elector is still campaigning
        return False, outcome

    def _supervise(self, tenure: Tenure, stop: threading.Event, outcome: _Outcome[T]) -> None:
        """Return when the function returned, or set ``stop`` when the tenure is ending."""
        while True:
            self._wake.clear()
            if outcome.returned_at is not None:
                return
            if self._shutdown or tenure.stop_due():
                stop.set()
                return
            self._clock.wait(self._wake, tenure.until_stop())

    def _drain(
        self,
        elector: Elector,
        lease: Lease,
        worker: threading.Thread,
        label: str,
        outcome: _Outcome[T],
    ) -> None:
        """Wait for a stopped function until the store may expire the lease; report a laggard;
        step down (the tenure ends anyway)."""
        margin = elector.timing.safety_margin
        worker.join(max(0.0, lease.deadline - self._clock.now()) + margin)
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
        elector.release()

    def _await_previous_copy(self, label: str) -> bool:
        """Block until the last copy started by this runner returned (never two copies in one
        process, also across ``run`` calls); False if ``stop()`` came first."""
        copy = self._copy
        if copy is None or copy.returned_at is not None:
            return True
        log.info("leader-only function %s: waiting for its previous copy to return", label)
        while True:
            self._wake.clear()
            if copy.returned_at is not None:
                log.info("leader-only function %s: previous copy returned", label)
                return True
            if self._shutdown:
                return False
            self._clock.wait(self._wake, None)
