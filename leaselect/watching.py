"""``watch``: every change of an election's leader, as the store pushes it.

The watch arms the store's push channel (``leaselect.leader_feed``) before it reads, reads an
election again only when the store hints at a change (or, where a lease's silent expiry is not
pushed, when the lease it saw would expire), and reports a change of identity or token; never
a poll. docs/operations.md ("Watching the leader") has the per-store mechanisms.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .backend import Backend
from .checks import check_timeout
from .clock import SYSTEM_CLOCK, Clock
from .errors import ConfigError, LeaselectError
from .leader_feed import RETRY_FIRST, RETRY_MAX, LeaderFeed
from .lease import Leader
from .names import validate_name
from .signalmask import start_quiet

log = logging.getLogger("leaselect")

EXPIRY_SLACK = 0.002  # read a lease that was not pushed as expired this long after its expiry
WAIT_SLICE = 86400.0


@dataclass(frozen=True)
class LeaderChange:
    """Election ``name`` is now led by ``leader`` (None: nobody leads)."""

    name: str
    leader: Leader | None


def _same(a: Leader | None, b: Leader | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.identity, a.token) == (b.identity, b.token)


class LeaderWatch(Iterator[LeaderChange]):
    """Iterates over the changes of the leaders of ``names``: first each one's current leader,
    then every change (a new identity or token, or nobody) as the store reports it.

    Iteration ends after ``timeout`` seconds (None: never) or once ``stop()`` is called from any
    thread; its end releases the watch's connection, as ``close()`` (or ``with``) does. A store
    that cannot be read is retried with backoff (logged once per outage); a change it missed
    meanwhile is reported when it answers again. ``next`` raises ``ConfigError`` when the store
    refuses the watch for good (a Redis user the ACL denies SUBSCRIBE).
    """

    def __init__(
        self,
        backend_or_url: Backend | str,
        names: Sequence[str],
        *,
        timeout: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if isinstance(names, str) or not names:
            raise ConfigError("names must be a non-empty sequence of election names")
        checked = [validate_name(name) for name in names]
        self._timeout = check_timeout(timeout)
        if not isinstance(backend_or_url, (str, Backend)):
            kind = type(backend_or_url).__name__
            raise ConfigError(f"watch needs a Backend or a store URL string, got {kind}")
        self._clock = clock or SYSTEM_CLOCK
        self._owns_backend = isinstance(backend_or_url, str)
        if isinstance(backend_or_url, str):
            from .registry import connect

            self.backend = connect(backend_or_url)
        else:
            if backend_or_url.closing:
                raise LeaselectError(f"backend is closed: {type(backend_or_url).__name__}")
            self.backend = backend_or_url
        try:
            self._feed: LeaderFeed = self.backend.leader_feed(checked)
        except BaseException:
            self._close_backend()
            raise
        self._leaders: dict[str, Leader | None] = {}
        self._timers: dict[str, float] = {}  # name -> when the lease it saw would expire
        self._hinted: set[str] = set()  # to read: the store hinted at a change
        self._retry: set[str] = set()  # to read again at ``_retry_at``: the read failed
        self._retry_at = 0.0
        self._ready: deque[LeaderChange] = deque()
        self._backoff = 0.0  # after a failed read
        self._failing = False
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # one reader at a time
        self._ends = None if self._timeout is None else self._clock.now() + self._timeout

    @property
    def current(self) -> dict[str, Leader | None]:
        """The leaders as last reported (elections not read yet are missing)."""
        return dict(self._leaders)

    def __iter__(self) -> LeaderWatch:
        return self

    def __next__(self) -> LeaderChange:
        with self._lock:
            while not self._ready:
                now = self._clock.now()
                ended = self._ends is not None and now >= self._ends
                if ended or self._stopped.is_set() or self._feed.closed or self.backend.closing:
                    self.close()  # the end of the iteration releases the connection
                    raise StopIteration
                try:
                    self._step(now)
                except LeaselectError:  # the store refuses the watch for good (feed.fatal)
                    self.close()
                    raise
            return self._ready.popleft()

    def stop(self) -> None:
        """End the iteration (a blocked ``next`` returns at once); thread-safe."""
        self._stopped.set()
        self._feed.interrupt()

    def close(self) -> None:
        """Stop and release the store connection (idempotent)."""
        self.stop()
        if not self._feed.closed:
            self._feed.close()
            self._close_backend()

    def __enter__(self) -> LeaderWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _step(self, now: float) -> None:
        due = {name for name, at in self._timers.items() if at <= now} | self._hinted
        if self._retry and now >= self._retry_at:
            due |= self._retry
        if due:
            self._read(due)
            if self._ready or self._stopped.is_set():
                return
            now = self._clock.now()
        wait = WAIT_SLICE
        if self._timers:
            wait = min(wait, min(self._timers.values()) - now)
        if self._ends is not None:
            wait = min(wait, self._ends - now)
        if self._retry:
            wait = min(wait, self._retry_at - now)
        self._hinted |= self._feed.wait(max(wait, 0.0))

    def _read(self, names: set[str]) -> None:
        self._hinted -= names
        self._retry -= names
        for name in self._feed.names:  # in the caller's order
            if name not in names:
                continue
            self._timers.pop(name, None)
            try:
                leader = self.backend.observe(name)
            except LeaselectError as exc:
                self._retry.add(name)
                self._failed(name, exc)
                continue
            self._recovered()
            timed = not self._feed.expiry_pushed
            if timed and leader is not None and leader.expires_in is not None:
                self._timers[name] = self._clock.now() + leader.expires_in + EXPIRY_SLACK
            if name not in self._leaders or not _same(self._leaders[name], leader):
                self._leaders[name] = leader
                self._ready.append(LeaderChange(name, leader))

    def _failed(self, name: str, exc: LeaselectError) -> None:
        self._backoff = min(max(self._backoff * 2, RETRY_FIRST), RETRY_MAX)
        self._retry_at = self._clock.now() + self._backoff
        if not self._failing:
            self._failing = True
            log.warning("leader watch: cannot read %r (retrying): %s", name, exc)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("leader watch: the store answers again")
        self._backoff = 0.0

    def _close_backend(self) -> None:
        if self._owns_backend:
            self.backend.close()


def watch(
    backend_or_url: Backend | str,
    *names: str,
    timeout: float | None = None,
    clock: Clock | None = None,
) -> LeaderWatch:
    """A ``LeaderWatch`` over ``names``: ``for change in leaselect.watch(url, "jobs"): ...``."""
    return LeaderWatch(backend_or_url, names, timeout=timeout, clock=clock)


class Follower:
    """Calls ``deliver(leader)`` for every change of ``name``'s leader, on a thread of its own,
    until ``stop()`` (what ``Elector(on_new_leader=...)`` runs)."""

    def __init__(
        self, backend: Backend, name: str, deliver: Callable[[Leader | None], None]
    ) -> None:
        self._watch = LeaderWatch(backend, [name])
        self._deliver = deliver
        self._thread = threading.Thread(
            target=self._run, name=f"leaselect-leader-watch-{name}", daemon=True
        )
        start_quiet(self._thread)

    def _run(self) -> None:
        try:
            for change in self._watch:
                self._deliver(change.leader)
        except LeaselectError as exc:  # the store refuses the watch: the election goes on
            log.error("on_new_leader stops: %s", exc)

    def stop(self, timeout: float) -> None:
        """End the thread (waiting at most ``timeout`` seconds) and release the feed."""
        self._watch.stop()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._watch.close()
