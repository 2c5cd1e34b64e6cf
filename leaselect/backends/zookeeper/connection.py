"""One backend's kazoo client and what the adapter needs to know about its connection.

kazoo reconnects on its own; every connection it makes is an *epoch*. The connection records,
per epoch, the session timeout the server negotiated and the answered requests (kazoo's pings
and the adapter's own) from which the anchor rule picks its touch (``anchor``). State
changes and their news reach the adapter through ``on_change``; waiters block in ``wait_news``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.handlers.threading import KazooTimeoutError

from ...clock import SYSTEM_CLOCK, Clock
from ...errors import BackendUnavailable, ConfigError
from ...logfields import store_log
from ...signalmask import process_signals_blocked
from . import kazoo_hooks
from .anchor import SPACING, Answered, History
from .client import DEFAULT_TICK, ClientConfig, mapped_errors

log = store_log("zk")
RETRY_CONF = 0.2  # seconds before asking conf again after no answer

OBSERVER_TIMEOUT = 10.0  # session timeout of a client opened only to observe


class Connection:
    """One kazoo client, started lazily, with its connection state tracked for the adapter."""

    def __init__(self, config: ClientConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock  # the adapter's: every time it reads (answers, proofs, anchors)
        self._lock = threading.Lock()
        self._client: Any = None
        self._requested: float | None = None
        self._pinned = False  # a session was opened: the timeout may no longer change
        self._hooked = False
        self._negotiated = 0.0  # on the current connection
        self._floor: tuple[int, float] | None = None  # session id, least timeout it negotiated
        self._handshake_done = threading.Event()
        self._connected = threading.Event()
        self._watchers: list[Callable[[str], None]] = []
        self._news = threading.Condition()
        self._generation = 0  # bumped at every state change and by ``notify``
        self.epoch = 0
        self.lost_session: int | None = None  # the session kazoo reported LOST, if any
        self.history = History()
        self.tick = config.tick or DEFAULT_TICK

    def client(self, ttl: float | None = None) -> Any:
        """The started client; ``ttl`` pins its session timeout (None: any, for observers)."""
        with self._lock:
            if ttl is not None and self._requested not in (None, ttl):
                if self._pinned:
                    raise ConfigError(
                        f"one ZooKeeper backend, one session timeout: this one uses "
                        f"{self._requested:g}s, not {ttl:g}s; open another backend"
                    )
                self._stop_locked()
            if self._client is None:
                self._start_locked(ttl or OBSERVER_TIMEOUT)
            self._pinned = self._pinned or ttl is not None
            return self._client

    def current(self) -> Any:
        """The client if started, else None (never starts one)."""
        return self._client

    @property
    def negotiated(self) -> float:
        """The session timeout the server of the current connection granted, in seconds."""
        return self._negotiated

    def lease_ttl(self, sid: int) -> float:
        """The least timeout any connection of session ``sid`` negotiated: a touch from an older
        connection can still reach the quorum leader, carrying its own timeout."""
        floor = self._floor
        return floor[1] if floor is not None and floor[0] == sid else self._negotiated

    def session_id(self) -> int | None:
        """The current session id while connected, else None (suspended or closed)."""
        client = self._client
        if client is None or not self._connected.is_set():
            return None
        client_id = client.client_id
        return None if client_id is None else int(client_id[0])

    def answered(self, epoch: int, sent: float) -> Answered | None:
        """Record a request of ours sent at ``sent`` (``clock``) in ``epoch`` and answered
        now; None if the connection changed meanwhile (then it proves nothing)."""
        if self.epoch != epoch or not self._connected.is_set():
            return None
        answer = Answered(epoch, sent, self.clock.now())
        with self._news:
            self.history.add(answer, self.tick * SPACING)
        return answer

    def latest(self, epoch: int, received_by: float) -> Answered | None:
        """The latest-sent request of ``epoch`` answered by ``received_by``."""
        with self._news:
            return self.history.latest(epoch, received_by)

    @property
    def generation(self) -> int:
        return self._generation

    def notify(self) -> None:
        """Wake every ``wait_news`` (a state change, or an event on one of our nodes)."""
        with self._news:
            self._generation += 1
            self._news.notify_all()

    def wait_news(self, generation: int, timeout: float) -> bool:
        """Block until news newer than ``generation`` or ``timeout``; True if news came."""
        with self._news:
            return self._news.wait_for(lambda: self._generation != generation, timeout)

    def on_change(self, watcher: Callable[[str], None]) -> None:
        """Call ``watcher(state)`` (non-blocking, on kazoo's thread) at every state change."""
        self._watchers.append(watcher)

    def off_change(self, watcher: Callable[[str], None]) -> None:
        """Undo ``on_change``."""
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def close(self) -> None:
        """Close the session (its ephemeral nodes go at once) and the client."""
        with self._lock:
            self._stop_locked()

    def _start_locked(self, timeout: float) -> None:
        client = KazooClient(**self.config.client_kwargs(timeout))
        self._hooked = kazoo_hooks.install(
            client,
            lambda started, granted: self._on_handshake(client, granted),
            self._on_ping,
            self.clock,
        )
        client.add_listener(self._on_state)
        with mapped_errors("connect", self.config.redacted):
            try:
                with process_signals_blocked():  # kazoo's threads inherit the mask
                    client.start(timeout=self.config.connect_timeout)
                if not self._hooked:
                    self._on_handshake(client, self._ask_timeout(client, timeout))
                if not self._handshake_done.wait(self.config.connect_timeout):
                    raise KazooTimeoutError("no session timeout negotiated")
                tick = self._ask_tick(client) if self.config.tick is None else self.tick
            except BaseException:
                client.stop()
                client.close()
                raise
        self._client, self._requested, self.tick = client, timeout, tick

    def _stop_locked(self) -> None:
        client, self._client, self._requested = self._client, None, None
        if client is not None:
            client.stop()
            client.close()

    def _on_handshake(self, client: Any, negotiated: float) -> None:
        """A (re)connect completed (kazoo's thread, before any request goes out on it)."""
        self._negotiated = negotiated
        client_id = client.client_id
        if self._hooked:
            self.epoch += 1
        if client_id is not None:
            sid = int(client_id[0])
            floor = self._floor
            if floor is None or floor[0] != sid or negotiated < floor[1]:
                self._floor = (sid, negotiated)
        self._handshake_done.set()

    def _on_ping(self, sent: float, received: float) -> None:
        with self._news:
            self.history.add(Answered(self.epoch, sent, received), self.tick * SPACING)

    def _on_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            if not self._hooked:
                self.epoch += 1
            self._connected.set()
        else:
            self._connected.clear()
        if state == KazooState.LOST and self._floor is not None:
            self.lost_session = self._floor[0]
        self.notify()
        for watcher in list(self._watchers):
            watcher(state)

    def _conf(self, client: Any) -> dict[str, str] | None:
        """The server's ``conf`` four-letter word as a dict (empty if it is not allowed), or
        None if it could not be asked (connection trouble, or a port that does not answer)."""
        try:
            text = client.command(b"conf")
        except Exception:
            return None
        if not str(text).strip():
            return None  # the connection closed before a word came back (a server going down)
        pairs = (line.split("=", 1) for line in str(text).splitlines() if "=" in line)
        return {key.strip(): value.strip() for key, value in pairs}

    def _ask_tick(self, client: Any) -> float:
        """The ensemble's tickTime from ``conf``. A server that refuses ``conf`` gets the
        default, with a warning; a question that got no answer is asked once more, and if the
        connection dropped meanwhile this connect fails (``BackendUnavailable``) and is retried:
        a store that went down just after the connect must not leave a guessed tick for good
        (a TTL the real tick allows would be refused forever)."""
        conf = self._conf(client)
        if conf is None:
            self.clock.wait(threading.Event(), RETRY_CONF)
            conf = self._conf(client)
        if conf is None and not client.connected:
            raise BackendUnavailable(
                f"ZooKeeper {self.config.redacted}: connection lost while reading tickTime"
            )
        tick = (conf or {}).get("tickTime")
        if tick is not None and tick.isdigit() and int(tick) > 0:
            return int(tick) / 1000.0
        log.warning(
            "ZooKeeper %s: tickTime unknown (the conf four-letter word %s); "
            "assuming %g ms: set tick_time=<ms> in the URL",
            self.config.redacted,
            "is not allowed" if conf is not None else "got no answer",
            DEFAULT_TICK * 1000,
        )
        return DEFAULT_TICK

    def _ask_timeout(self, client: Any, requested: float) -> float:
        """Without the handshake hook: the server's clamp of ``requested`` from ``conf``."""
        conf = self._conf(client) or {}
        low, high = conf.get("minSessionTimeout", ""), conf.get("maxSessionTimeout", "")
        if not (low.isdigit() and high.isdigit()):
            raise ConfigError(
                f"ZooKeeper {self.config.redacted}: this kazoo does not report the negotiated "
                "session timeout and the server's conf four-letter word is not allowed"
            )
        return min(max(requested, int(low) / 1000.0), int(high) / 1000.0)
