"""``Elector``: the threaded driver of the election state machine."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .backend import Backend, Candidacy, Grant, Renewal, Waiting
from .clock import SYSTEM_CLOCK, Clock
from .dispatch import Dispatcher
from .errors import ConfigError, ElectionTimeout, LeaselectError
from .keeper import Holder, Keeper, keeper_for
from .lease import Leader, Lease, LostReason
from .machine import Effect, Elected, ElectionMachine, Jeopardy, Lost, Phase, Recovered
from .names import validate_identity, validate_metadata, validate_name
from .registry import connect
from .timing import DEFAULT_DRIFT, DEFAULT_TTL, Timing
from .urls import redact

log = logging.getLogger("leaselect")

OnElected = Callable[[Lease], None]
OnLost = Callable[[Lease, LostReason], None]
RETRY_BACKOFF = 0.1  # first pause after a failed campaign; doubles up to MAX_BACKOFF
MAX_BACKOFF = 5.0


class Elector:
    """Campaigns for leadership of ``name`` and keeps the lease while it leads.

    ``is_leader`` reads the clock on every access: it turns False the instant the local deadline
    passes, even when the renewal thread is stuck. Callbacks run in order on a callback thread:
    ``on_elected(lease)`` then exactly one ``on_lost(lease, reason)`` per tenure.
    """

    def __init__(
        self,
        backend_or_url: Backend | str,
        name: str,
        *,
        ttl: float = DEFAULT_TTL,
        identity: str | None = None,
        metadata: str | None = None,
        on_elected: OnElected | None = None,
        on_lost: OnLost | None = None,
        on_jeopardy: OnElected | None = None,
        clock: Clock | None = None,
        renew_interval: float | None = None,
        margin: float | None = None,
        drift: float = DEFAULT_DRIFT,
    ) -> None:
        self.name = validate_name(name)
        self.identity = validate_identity(identity)
        self.metadata = validate_metadata(metadata)
        self.timing = Timing(ttl, renew_interval, drift, margin)
        self._owns_backend = isinstance(backend_or_url, str)
        self.backend = (
            connect(backend_or_url) if isinstance(backend_or_url, str) else backend_or_url
        )
        if not isinstance(self.backend, Backend):
            raise ConfigError("Elector needs a Backend or a store URL string")
        self._callbacks = (on_elected, on_lost, on_jeopardy)
        self._clock = clock or SYSTEM_CLOCK
        self._machine = ElectionMachine(self.name, self.identity, self.timing)
        self._lock = threading.RLock()
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._elected = threading.Event()
        self._settled = threading.Event()  # elected, or released: what acquire waits for
        self._lifecycle = threading.Lock()  # serializes release() with starting a campaign
        self.lost = threading.Event()
        self._last_elected: Lease | None = None
        self._want = False
        self._repeat = False
        self._requests = 0  # campaigns asked for (acquire/start); a tenure ends only its own
        self._tenure_request = 0
        self._thread: threading.Thread | None = None
        self._candidacy: Candidacy | None = None
        self._dispatcher: Dispatcher | None = None
        self._observers: list[Callable[[Effect], None]] = []  # see _observe
        try:
            self.backend.check_ttl(ttl)
        except BaseException:
            self._close_backend()
            raise

    # -- public API ---------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while this process leads and its local deadline has not passed."""
        return self._machine.is_leader(self._clock.now())

    @property
    def in_jeopardy(self) -> bool:
        """True while leading but renewals are failing: start no new leader work."""
        return self.is_leader and self._machine.phase is Phase.JEOPARDY

    @property
    def lease(self) -> Lease | None:
        """The current lease, or None when not leading."""
        lease = self._machine.lease
        return lease if lease is not None and self._clock.now() < lease.deadline else None

    def leader(self) -> Leader | None:
        """Who leads ``name`` now, as the store reports it."""
        return self.backend.observe(self.name)

    def acquire(self, timeout: float | None = None) -> Lease | None:
        """Block until this process leads (one tenure); None if ``timeout`` seconds pass first."""
        current = self.lease
        if current is not None:
            return current
        with self._lock:
            self._settled.clear()
            self._last_elected = None
        self._begin(repeat=False)
        if not self._clock.wait(self._settled, timeout):
            self.release()
            return None
        with self._lock:  # the lease won, even if another thread released it since
            return self._last_elected

    def start(self) -> None:
        """Campaign in the background and campaign again after every lost tenure."""
        self._begin(repeat=True)

    def release(self) -> None:
        """Stop campaigning; if leading, step down (``on_lost`` with reason ``released``).

        A blocked ``acquire`` in another thread returns None.
        """
        with self._lifecycle:
            with self._lock:
                self._want = False
                effects = self._machine.released(self._clock.now())
                self._apply(effects)
                was_leading = bool(effects)
                candidacy, thread = self._candidacy, self._thread
                self._stop.set()
                self._settled.set()
                if self._dispatcher is not None:
                    self._dispatcher.wake()
            if was_leading and candidacy is not None:
                self._resign(candidacy)  # hand over first: a leading campaign thread does no I/O
            self._changed.set()
            if candidacy is not None:
                candidacy.interrupt()
            if thread is not None and thread is not threading.current_thread():
                thread.join(self.timing.ttl)
            if candidacy is not None:
                self._keeper().drop(candidacy)
                if not was_leading:
                    self._resign(candidacy)

    def close(self) -> None:
        """Release, stop the callback thread and close the backend if this elector opened it."""
        self.release()
        if self._dispatcher is not None:
            self._dispatcher.stop(timeout=self.timing.ttl)
            self._dispatcher = None
        self._close_backend()

    def __enter__(self) -> Lease:
        lease = self.acquire()
        if lease is None:
            raise ElectionTimeout(f"leadership of {self.name!r} ended before it was handed out")
        return lease

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return (
            f"Elector(name={self.name!r}, identity={self.identity!r}, "
            f"backend={type(self.backend).__name__}, phase={self._machine.phase.value})"
        )

    def _observe(self, observer: Callable[[Effect], None]) -> None:
        """Internal: call ``observer(effect)`` for every state change as it happens.

        It runs on the thread that made the change (the deadline watchdog, the renewal loop, a
        ``release`` caller), under the elector's lock and before any user callback is queued, so
        it must only set flags or events. Leader-work stoppers use it (never the callback thread).
        """
        self._observers.append(observer)

    # -- the campaign thread ----------------------------------------------------------------

    def _begin(self, repeat: bool) -> None:
        with self._lifecycle, self._lock:
            self._want, self._repeat = True, repeat
            self._requests += 1
            self._stop.clear()
            if self._thread is not None:
                return  # the running thread decides to exit only under the lock, seeing _want
            self._thread = threading.Thread(
                target=self._run, name=f"leaselect-campaign-{self.name}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        candidacy = self._ensure_candidacy()
        backoff = 0.0
        while self._continue_or_exit(candidacy):
            try:
                sent = self._clock.now()
                outcome = candidacy.campaign(sent)
            except LeaselectError as exc:
                level = logging.DEBUG if backoff else logging.WARNING
                log.log(level, "campaign for %r failed: %s", self.name, redact(str(exc)))
                backoff = min(MAX_BACKOFF, backoff * 2 or RETRY_BACKOFF)
                self._clock.wait(self._stop, backoff)
                continue
            backoff = 0.0
            if isinstance(outcome, Waiting):
                self._wait(candidacy, outcome)
            elif self._begin_tenure(outcome):
                self._watch_tenure()
                self._after_tenure(candidacy)
                self._await_callbacks()
            else:
                self._resign(candidacy)  # the grant was stale on arrival: renewals are failing
                self._clock.wait(self._stop, RETRY_BACKOFF)

    def _wait(self, candidacy: Candidacy, waiting: Waiting) -> None:
        try:
            candidacy.wait(waiting, self.timing.ttl)
        except LeaselectError as exc:
            log.warning("waiting in %r failed: %s", self.name, redact(str(exc)))
            self._clock.wait(self._stop, RETRY_BACKOFF)

    def _continue_or_exit(self, candidacy: Candidacy) -> bool:
        """Whether to campaign on; an exiting thread clears ``_thread`` under the lock."""
        with self._lock:
            if self._wanted():
                return True
            self._keeper().drop(candidacy)
            self._thread = None
            return False

    def _wanted(self) -> bool:
        with self._lock:
            return self._want and not self._stop.is_set()

    def _ensure_candidacy(self) -> Candidacy:
        with self._lock:
            if self._candidacy is None:
                session = self.backend.session(self.timing.ttl)
                self._candidacy = session.candidacy(self.name, self.identity, self.metadata)
            candidacy = self._candidacy
        self._keeper().hold(
            Holder(
                candidacy,
                self.timing.renew_every,
                self.timing.retry_delay(),
                self._on_renewal,
                self._on_renew_failure,
            )
        )
        return candidacy

    def _keeper(self) -> Keeper:
        return keeper_for(self.backend.session(self.timing.ttl), self._clock)

    def _begin_tenure(self, grant: Grant) -> bool:
        with self._lock:
            if not self._wanted():
                return False
            effects = self._machine.elected(grant.token, grant.ttl, grant.anchor, self._clock.now())
            self._apply(effects)
            self._tenure_request = self._requests
        if effects:
            self._keeper().renew_by(grant.anchor + self.timing.renew_every)
        return bool(effects)

    def _watch_tenure(self) -> None:
        """Tick the machine at its deadlines until the tenure ends (this thread does no I/O)."""
        while True:
            with self._lock:
                self._changed.clear()
                now = self._clock.now()
                self._apply(self._machine.tick(now))
                wake = self._machine.next_wakeup()
            if wake is None:
                return
            self._clock.wait(self._changed, max(0.0, wake - now))

    def _after_tenure(self, candidacy: Candidacy) -> None:
        with self._lock:
            if not self._want:
                return
            if self._requests == self._tenure_request:  # an acquire since the loss stands
                self._want = self._repeat
        self._resign(candidacy)

    def _await_callbacks(self) -> None:
        """Campaign again only once ``on_lost`` has returned: its work may not have stopped."""
        dispatcher = self._dispatcher
        if dispatcher is not None:
            dispatcher.wait_idle(self._stop)

    def _resign(self, candidacy: Candidacy) -> None:
        try:
            candidacy.resign()
        except LeaselectError as exc:
            log.warning("resign from %r failed: %s", self.name, redact(str(exc)))

    # -- keeper callbacks -------------------------------------------------------------------

    def _on_renewal(self, renewal: Renewal, sent: float) -> None:
        with self._lock:
            now = self._clock.now()
            if renewal.ttl is not None:
                effects = self._machine.renewed(renewal.ttl, sent, now)
            elif renewal.reason is None:
                return
            else:
                effects = self._machine.taken(sent, now, renewal.reason)
            self._apply(effects)

    def _on_renew_failure(self, now: float) -> None:
        with self._lock:
            self._apply(self._machine.renew_failed(now))

    # -- effects ------------------------------------------------------------------------------

    def _apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            self._changed.set()
            for observer in self._observers:
                observer(effect)
            if isinstance(effect, Elected):
                self._last_elected = effect.lease
                self.lost.clear()
                self._elected.set()
                self._settled.set()
                log.info("elected %r token=%d as %s", self.name, effect.lease.token, self.identity)
                self._call(0, effect.lease)
            elif isinstance(effect, Jeopardy):
                log.warning("%r in jeopardy: renewals failing", self.name)
                self._call(2, effect.lease)
            elif isinstance(effect, Recovered):
                log.info("%r renewals recovered", self.name)
            elif isinstance(effect, Lost):
                self._elected.clear()
                self.lost.set()
                log.info("lost %r token=%d: %s", self.name, effect.lease.token, effect.reason.value)
                self._call(1, effect.lease, effect.reason)

    def _call(self, which: int, lease: Lease, reason: LostReason | None = None) -> None:
        callback = self._callbacks[which]
        if callback is None:
            return
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(self.name)
        if reason is None:
            self._dispatcher.submit(lambda: callback(lease))  # type: ignore[call-arg]
        else:
            self._dispatcher.submit(lambda: callback(lease, reason))  # type: ignore[call-arg]

    def _close_backend(self) -> None:
        if self._owns_backend:
            self.backend.close()
