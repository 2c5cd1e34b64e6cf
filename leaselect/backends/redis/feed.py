"""Leader watches of the Redis backend: one subscribed connection per watch.

The scripts that change a leader publish on the channel named like the election's lease key
(``scripts``); a watch subscribes to the channels of its elections on a connection of its
own and hints the election whose channel spoke. A lease that expires publishes nothing, so the
watch reads again when the lease it saw would expire (``expiry_pushed`` is False). A
connection silent for ``MAX_BLOCK`` seconds is pinged once; no answer to that, or any error,
reopens it with backoff, and every election is read again.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence
from typing import Any, Protocol

import redis

from ...errors import ConfigError
from ...leader_feed import Backoff, LeaderFeed
from ...logfields import store_log
from .client import MAX_BLOCK, RedisSettings

log = store_log("redis")


class WatchSource(Protocol):
    """What a watch uses of its backend (``RedisBackend``)."""

    @property
    def conf(self) -> RedisSettings: ...
    @property
    def blocking_pool(self) -> redis.ConnectionPool: ...
    @property
    def closed(self) -> bool: ...
    def key(self, name: str, part: str) -> str: ...


class RedisLeaderFeed(LeaderFeed):
    """Hints from the lease channels of ``names`` (see the module docstring)."""

    expiry_pushed = False

    def __init__(self, backend: WatchSource, names: Sequence[str]) -> None:
        super().__init__(names)
        self._backend = backend
        self._client = redis.Redis(connection_pool=backend.blocking_pool)
        self._timeout = backend.conf.timeout
        self._where = backend.conf.redacted
        self._channels = {backend.key(name, "lease").encode(): name for name in self.names}
        self._pubsub: Any = None  # redis-py leaves PubSub untyped
        self._backoff = Backoff()
        self._failing = False

    def _run(self) -> None:
        while not self.closed and not self._backend.closed:
            pubsub: Any = None
            try:
                pubsub = self._pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
                if self.closed:
                    break
                pubsub.subscribe(*self._channels)
                confirmed = 0
                while confirmed < len(self._channels):
                    message = pubsub.get_message(timeout=self._timeout)
                    if message is None:
                        raise redis.TimeoutError("no answer to SUBSCRIBE")
                    confirmed += message["type"] == "subscribe"
                self._backoff.reset()
                if self._failing:
                    self._failing = False
                    log.info("redis %s: the leader watch listens again", self._where)
                self._opened_now()
                self._listen(pubsub)
            except redis.exceptions.NoPermissionError as exc:
                channels = ", ".join(sorted(c.decode() for c in self._channels))
                self._refused(
                    ConfigError(
                        f"redis {self._where}: this user may not SUBSCRIBE to {channels} "
                        f"(grant +subscribe and those channels): {exc}"
                    )
                )
                return
            except (redis.RedisError, OSError, AttributeError) as exc:
                if not self.closed:
                    self._failed(exc)
            finally:
                if pubsub is not None:
                    self._pubsub = None
                    with contextlib.suppress(redis.RedisError, OSError):
                        pubsub.close()

    def _listen(self, pubsub: Any) -> None:
        pinged = False
        while not self.closed:
            message = pubsub.get_message(timeout=MAX_BLOCK)
            if message is None:
                if pinged:
                    raise redis.TimeoutError("no answer to PING")
                pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message["type"] == "message":
                name = self._channels.get(message["channel"])
                if name is not None:
                    self.hint(name)

    def _failed(self, exc: BaseException) -> None:
        self._not_opened()
        if not self._failing:
            self._failing = True
            log.warning("redis %s: the leader watch lost its connection: %s", self._where, exc)
        self._backoff.pause()

    def _close(self) -> None:
        self._backoff.cancel()
        sock = getattr(getattr(self._pubsub, "connection", None), "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the read in ``_run`` returns
