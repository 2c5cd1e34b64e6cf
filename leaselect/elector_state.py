"""The state an ``Elector``'s parts share, and the helpers they all use.

``Elector`` is built in layers, each a module: this state, the effects of its state machine
(``elector_effects``: callbacks, events, observers), the tenure as the watchdog and the keeper
follow it (``elector_tenure``), the campaign (``elector_campaign``) and the public API
(``elector``). See docs/elector.md.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable

from . import pool, shared
from .backend import Backend, Candidacy
from .callbacks import Callbacks
from .clock import Clock
from .dispatch import Dispatcher
from .errors import ConfigError, LeaselectError
from .keeper import Keeper
from .lease import Lease
from .logfields import election_fields
from .machine import Effect, ElectionMachine
from .parking import Parked, Runner, is_current
from .signalmask import current_mask
from .timing import Timing
from .urls import redact
from .watchdog import watchdog_for
from .watching import Follower

log = logging.getLogger("leaselect")

RETRY_BACKOFF = 0.1  # first pause after a failed campaign; doubles up to MAX_BACKOFF
MAX_BACKOFF = 5.0
CLOSED = "elector is closed"
WAIT_SLICE = 86400.0  # acquire() waits in slices of a day: any finite timeout works
WAIT_TTLS = 10  # a waiter campaigns again after this many TTLs with no news (a safety net only)

OPEN: weakref.WeakSet[ElectorState] = weakref.WeakSet()  # see elector.open_electors


class ElectorState:
    """What every part of an ``Elector`` shares, and the small helpers they all use. Guarded
    by ``_lock`` unless noted. Each method below that raises ``NotImplementedError`` is
    provided by the layer that owns it."""

    _leave_threads: Callable[[], object]  # set last in Elector.__init__

    def __init__(
        self,
        name: str,
        identity: str,
        metadata: str,
        timing: Timing,
        callbacks: Callbacks[None],
        backend: Backend,
        owns_backend: bool,
        clock: Clock,
    ) -> None:
        self.name, self.identity, self.metadata, self.timing = name, identity, metadata, timing
        self._callbacks = callbacks
        self.backend = backend
        self._owns_backend = owns_backend  # made from a URL: given back at close
        self._follower: Follower | None = None  # the leader watch behind on_new_leader
        self._clock = clock
        self._machine = ElectionMachine(self.name, self.identity, self.timing)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._settled = threading.Event()  # elected, or released: what acquire waits for
        self._lifecycle = threading.Lock()  # serializes release() with starting a campaign
        self.lost = threading.Event()
        self._last_elected: Lease | None = None
        self._want = False
        self._repeat = False
        self._requests = 0  # campaigns asked for (acquire/start); a tenure ends only its own
        self._tenure_request = 0
        self._thread: threading.Thread | Runner | None = None  # the campaign thread, if any
        self._parked: Parked | None = None  # a wait parked with the adapter (no thread)
        self._watched = False  # a tenure the watchdog follows (no campaign thread meanwhile)
        self._resuming = False  # a tenure ended; the thread that campaigns on is about to start
        self._watchdog = watchdog_for(self._clock)
        self._candidacy: Candidacy | None = None
        self._keeper: Keeper | None = None
        self._dispatcher: Dispatcher | None = None
        self._user_mask = current_mask()  # callbacks run with it (see signalmask)
        self._callbacks_stopped = False
        self._closed = False
        self._close_done = threading.Event()  # the first close() (or the backend's) finished
        self._stopped_dispatcher: Dispatcher | None = None  # the callback queue close() stopped
        self._finished = False  # closed and released: release() has nothing left to do
        self._closing_effects: list[Effect] | None = None  # closed by its backend, not done
        self._error: ConfigError | None = None  # an adapter's ConfigError, for acquire()
        self._observers: list[Callable[[Effect], None]] = []  # see _observe
        self._last_contact: float | None = None  # the store's latest answer (see health)
        self._fields = election_fields(self.name, self.identity, type(self.backend).scheme)

    def release(self) -> None:
        """Stop campaigning; step down if leading (``Elector.release``)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release and stop (``Elector.close``)."""
        raise NotImplementedError

    def _tick_tenure(self) -> float | None:
        """The watchdog's tick (``ElectorTenure._tick_tenure``)."""
        raise NotImplementedError

    def _run(self, candidacy: Candidacy | None = None) -> list[pool.Job]:
        """The campaign (``ElectorCampaign._run``)."""
        raise NotImplementedError

    def _wait_settled(self, seconds: float | None) -> bool:
        """Wait for ``_settled`` at most ``seconds``, in slices short enough for any platform's
        ``threading.TIMEOUT_MAX`` (a longer single wait raises ``OverflowError``)."""
        if seconds is None:
            return self._clock.wait(self._settled, None)
        end = self._clock.now() + seconds
        while True:
            remaining = end - self._clock.now()
            if self._clock.wait(self._settled, min(remaining, WAIT_SLICE)):
                return True
            if remaining <= WAIT_SLICE:
                return False

    def _require_open(self) -> None:
        if self._closed:
            raise LeaselectError(f"{CLOSED}: {self.name!r}")

    def _wanted(self) -> bool:
        with self._lock:
            return self._want and not self._stop.is_set()

    def _in_own_callback(self) -> bool:
        return self._own_dispatcher() is not None

    def _own_dispatcher(self) -> Dispatcher | None:
        """The callback queue whose callback is running on this thread, if any."""
        for dispatcher in (self._dispatcher, self._stopped_dispatcher):
            if dispatcher is not None and dispatcher.is_current():
                return dispatcher
        return None

    def _unwatch(self) -> None:
        """The tenure ends here (under the lock): the watchdog stops following it, and a thread
        about to follow its end is not started."""
        self._resuming = False
        if self._watched:
            self._watched = False
            self._watchdog.unwatch(self)

    def _exit_thread(self) -> None:
        """The campaign thread ends: forget it, unless a newer one took its place."""
        with self._lock:
            if is_current(self._thread):
                self._thread = None

    def _await_callbacks(self) -> None:
        """Campaign again only once ``on_lost`` has returned: its work may not have stopped."""
        dispatcher = self._dispatcher
        if dispatcher is not None:
            dispatcher.wait_idle(self._stop)

    def _resign(self, candidacy: Candidacy) -> None:
        try:
            candidacy.resign()
        except Exception as exc:
            log.warning(
                "resign from %r failed: %s", self.name, redact(str(exc)), extra=self._fields
            )

    def _close_backend(self) -> None:
        if self._owns_backend:
            shared.give_back(self.backend)
