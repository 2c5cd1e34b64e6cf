"""One blocking connection per backend waits on the wake lists of all its waiting candidacies.

A release pushes the grant to the wake list of the waiter it picked (``scripts``). Each
waiting candidacy *watches* its list here; one thread blocks in ``BLPOP control k1 k2 ...``
on a connection of its own and hands what it pops to the watcher of that key, so a thousand
waiters cost one connection and no polling. A new watch that the BLPOP in flight does not
cover pushes to the backend's control list, which ends the BLPOP; the thread then empties the
control list and blocks again with every watched key. A message that arrived before its key
was covered waits in its list (a wake list lives ``WAKE_MS``) and is popped at once.

A message popped for a key nobody watches at that moment is kept (``UNCLAIMED_S``) and handed
to the next watch of that key: its waiter stopped watching to campaign, and a release that
picked it after that campaign registered it hands it a lease its campaign did not see. Dropping
it left that waiter parked until the old holder's expiry (a hand-over of a whole TTL, about 1
in 100 ping-pong hand-overs).

When the connection fails, the thread says so once, retries with capped backoff, and the
waiters fall back on their own timeouts (the holder's expiry), never on a polling loop.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

import redis

from ...clock import SYSTEM_CLOCK, Clock
from ...logfields import store_log
from ...signalmask import start_quiet
from ...urls import redact
from .client import MAX_BLOCK

log = store_log("redis")

CONTROL_MS = 60_000  # an unconsumed control entry vanishes after this
UNCLAIMED_S = 60.0  # a popped message nobody watched waits this long for its key's next watch
RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # backoff after a failed connection, doubling


class Wakes:
    """The wake-list watcher of one Redis backend (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        pool: redis.ConnectionPool,
        prefix: str,
        where: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._client = client  # for control pushes (short commands)
        self._pool = pool  # for the blocking connection
        self._where = where  # the redacted URL, for the log
        self._clock = clock
        self.control = f"{prefix}wakes:{secrets.token_hex(8)}"
        self._lock = threading.Condition()
        self._watched: dict[str, Callable[[bytes], None]] = {}
        self._unclaimed: dict[str, tuple[bytes, float]] = {}  # key -> (message, popped at)
        self._covered: frozenset[str] = frozenset()  # the keys of the BLPOP in flight
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failing = False

    def watch(self, key: str, deliver: Callable[[bytes], None]) -> None:
        """Call ``deliver(message)`` (on the watcher thread) for what is pushed to ``key``
        until ``unwatch(key)``; raises what the control push raises (redis-py errors)."""
        with self._lock:
            if self._closed:
                return
            self._watched[key] = deliver
            kept = self._unclaimed.pop(key, None)
            if self._thread is None or not self._thread.is_alive():  # (none after a fork)
                self._thread = threading.Thread(target=self._run, name="leaselect-redis-wakes")
                self._thread.daemon = True
                start_quiet(self._thread)
            self._lock.notify_all()
            covered = key in self._covered
        if kept is not None and self._clock.now() - kept[1] < UNCLAIMED_S:
            deliver(kept[0])
        if not covered:
            pipe = self._client.pipeline(transaction=False)
            pipe.lpush(self.control, "w")
            pipe.pexpire(self.control, CONTROL_MS)
            pipe.execute()

    def unwatch(self, key: str) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def stop(self) -> None:
        """Make the thread end; the caller then disconnects the pool (which ends a BLPOP in
        flight) and may ``join``."""
        with self._lock:
            self._closed = True
            self._watched.clear()
            self._lock.notify_all()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        conn: Any = None  # redis-py leaves Connection's methods untyped
        retry = RETRY_FIRST
        while True:
            with self._lock:
                while not self._watched and not self._closed:
                    self._covered = frozenset()
                    self._lock.wait()
                if self._closed:
                    break
            try:
                if conn is None:
                    conn = self._pool.get_connection()
                popped = self._pop(conn)
            except Exception as exc:
                if conn is not None:
                    conn.disconnect()
                    self._pool.release(conn)
                    conn = None
                if self._closed:
                    break
                self._failed(exc)
                with self._lock:
                    self._covered = frozenset()
                    self._lock.wait(retry)
                retry = min(retry * 2, RETRY_MAX)
                continue
            retry = RETRY_FIRST
            if self._failing:
                self._failing = False
                log.info("redis %s: wake-ups work again", self._where)
            if popped is not None:
                key, message = popped
                with self._lock:
                    deliver = self._watched.get(key)
                    if deliver is None:
                        self._keep(key, message)
                if deliver is not None:
                    try:
                        deliver(message)
                    except Exception:
                        log.exception("redis %s: delivering a wake-up failed", self._where)
        if conn is not None:
            conn.disconnect()
            self._pool.release(conn)

    def _keep(self, key: str, message: bytes) -> None:
        """Keep a message nobody watched for its key's next watch (under the lock); drop
        those kept too long (their waiters resigned or campaigned it in)."""
        now = self._clock.now()
        for old in [k for k, (_, at) in self._unclaimed.items() if now - at >= UNCLAIMED_S]:
            del self._unclaimed[old]
        self._unclaimed[key] = (message, now)

    def _pop(self, conn: Any) -> tuple[str, bytes] | None:
        """Empty the control list, then one BLPOP over it and every watched key: the (key,
        message) popped from a watched key, or None (control, or the BLPOP timed out)."""
        conn.send_command("DEL", self.control)
        conn.read_response()
        with self._lock:  # after the DEL: a watch from now on finds its push still listed
            keys = frozenset(self._watched)
            self._covered = keys
        conn.send_command("BLPOP", self.control, *sorted(keys), MAX_BLOCK)
        reply = conn.read_response()
        if reply is None:
            return None
        key = reply[0].decode()
        return None if key == self.control else (key, bytes(reply[1]))

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            log.warning(
                "redis %s: wake-ups unavailable (%s: %s); waiters wake at the leader's expiry "
                "until they work again",
                self._where,
                type(exc).__name__,
                redact(str(exc)),
            )
