"""The ZooKeeper connection of one backend: URL options, kazoo client, connection state, errors.

One ``KazooClient`` (one ZooKeeper session) per backend. Its session timeout follows the TTL of
the first session opened; the timeout the servers negotiated is captured at every (re)connect,
because kazoo keeps only the requested one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    AuthFailedError,
    ConnectionClosedError,
    ConnectionLoss,
    NoAuthError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.security import make_digest_acl

from ..clock import SYSTEM_CLOCK
from ..errors import BackendUnavailable, ConfigError
from ..urls import StoreUrl

DEFAULT_PORT = 2181
DEFAULT_ROOT = "/leaselect"
DEFAULT_CONNECT_TIMEOUT = 10.0
OBSERVER_TIMEOUT = 10.0  # session timeout of a client opened only to observe
_TRANSPORT_ERRORS = (
    ConnectionLoss,
    ConnectionClosedError,
    SessionExpiredError,
    OperationTimeoutError,
    KazooTimeoutError,
)


@dataclass(frozen=True)
class ClientConfig:
    """Everything needed to build a ``KazooClient`` (the password stays out of ``repr``)."""

    hosts: str
    root: str
    redacted: str
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_url(cls, url: StoreUrl) -> ClientConfig:
        """``zk[s]://[user:pass@]host:port[,...][/chroot][?root=/x&connect_timeout=s&ca=...]``."""
        if not url.hosts:
            raise ConfigError(f"ZooKeeper URL needs at least one host: {url.redacted!r}")
        chroot = "/" + url.path.strip("/") if url.path.strip("/") else ""
        hosts = ",".join(f"{_host(h)}:{p}" for h, p in url.host_list(DEFAULT_PORT)) + chroot
        root = "/" + url.options.get("root", DEFAULT_ROOT).strip("/")
        if root == "/" or ".." in root.split("/"):
            raise ConfigError(f"ZooKeeper root must be a non-root absolute path, got {root!r}")
        user = url.username or os.environ.get("LEASELECT_ZK_USER") or None
        password = url.password if url.username else os.environ.get("LEASELECT_ZK_PASSWORD")
        if (user is None) != (password is None):
            raise ConfigError("ZooKeeper digest auth needs both a user and a password")
        return cls(
            hosts, root, url.redacted, _float(url, "connect_timeout"), user, password, _tls(url)
        )

    def client_kwargs(self, timeout: float) -> dict[str, Any]:
        """Keyword arguments of ``KazooClient`` for a session timeout of ``timeout`` seconds."""
        kwargs: dict[str, Any] = {
            "hosts": self.hosts,
            "timeout": timeout,
            # reconnect forever, quickly: kazoo's default backs off to an hour between rounds
            "connection_retry": {
                "max_tries": -1,
                "delay": 0.05,
                "max_delay": min(1.0, timeout / 6),
            },
            **self.tls,
        }
        if self.user is not None and self.password is not None:
            kwargs["auth_data"] = [("digest", f"{self.user}:{self.password}")]
            kwargs["default_acl"] = [make_digest_acl(self.user, self.password, all=True)]
        return kwargs


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _float(url: StoreUrl, key: str) -> float:
    try:
        value = float(url.options.get(key, DEFAULT_CONNECT_TIMEOUT))
    except ValueError:
        raise ConfigError(f"ZooKeeper option {key} must be a number of seconds") from None
    if value <= 0:
        raise ConfigError(f"ZooKeeper option {key} must be positive")
    return value


def _tls(url: StoreUrl) -> dict[str, Any]:
    options = url.options
    if url.scheme != "zks":
        if {"ca", "cert", "key"} & options.keys():
            raise ConfigError("ca/cert/key options need the zks:// scheme (TLS)")
        return {}
    verify = options.get("verify", "1") != "0"
    # kazoo checks the certificate's host name only when asked (its default is off)
    tls: dict[str, Any] = {"use_ssl": True, "verify_certs": verify, "check_hostname": verify}
    for option, kwarg in (("ca", "ca"), ("cert", "certfile"), ("key", "keyfile")):
        if option in options:
            tls[kwarg] = options[option]
    return tls


@contextmanager
def mapped_errors(what: str, redacted: str) -> Iterator[None]:
    """Turn kazoo's transport and auth failures into leaselect errors naming ``what``."""
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        detail = type(exc).__name__
        raise BackendUnavailable(f"ZooKeeper {redacted}: {what} failed ({detail})") from None
    except (AuthFailedError, NoAuthError) as exc:
        detail = type(exc).__name__
        raise ConfigError(f"ZooKeeper {redacted}: {what}: not authorized ({detail})") from None


class Connection:
    """One kazoo client, started lazily, with the connection state tracked for the adapter."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._client: Any = None
        self._requested: float | None = None
        self._pinned = False  # a session was opened: the timeout may no longer change
        self._negotiated = 0.0
        self._handshake_done = threading.Event()
        self._connected = threading.Event()
        self._watchers: list[Callable[[], None]] = []
        self._ping_answered: tuple[int, float] | None = None  # session id, ping send time
        self._ping_news = threading.Condition()

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

    @property
    def negotiated(self) -> float:
        """The session timeout the servers granted, in seconds."""
        return self._negotiated

    def session_id(self) -> int | None:
        """The current session id while connected, else None (suspended or closed)."""
        client = self._client
        if client is None or not self._connected.is_set():
            return None
        client_id = client.client_id
        return None if client_id is None else int(client_id[0])

    def last_ping(self, sid: int, newer_than: float = 0.0, wait: float = 0.0) -> float | None:
        """When the last ping of session ``sid`` that the server answered was sent
        (``SYSTEM_CLOCK``), if any: a round trip kazoo makes when the connection is idle.
        Waits up to ``wait`` seconds for one sent after ``newer_than``."""
        with self._ping_news:
            self._ping_news.wait_for(lambda: self._newest(sid) > newer_than, timeout=wait)
            newest = self._newest(sid)
        return newest or None

    def _newest(self, sid: int) -> float:
        answered = self._ping_answered
        return answered[1] if answered is not None and answered[0] == sid else 0.0

    def on_change(self, watcher: Callable[[], None]) -> None:
        """Call ``watcher`` (non-blocking, on kazoo's thread) at every connection state change."""
        self._watchers.append(watcher)

    def close(self) -> None:
        """Close the session (its ephemeral nodes go at once) and the client."""
        with self._lock:
            self._stop_locked()

    def _start_locked(self, timeout: float) -> None:
        client = KazooClient(**self.config.client_kwargs(timeout))
        _capture_negotiated(client, self._set_negotiated)
        _capture_pings(client, self._set_ping_answered)
        client.add_listener(self._on_state)
        with mapped_errors("connect", self.config.redacted):
            try:
                client.start(timeout=self.config.connect_timeout)
                if not self._handshake_done.wait(self.config.connect_timeout):
                    raise KazooTimeoutError("no session timeout negotiated")
            except BaseException:
                client.stop()
                client.close()
                raise
        self._client, self._requested = client, timeout

    def _stop_locked(self) -> None:
        client, self._client, self._requested = self._client, None, None
        if client is not None:
            client.stop()
            client.close()

    def _set_negotiated(self, seconds: float) -> None:
        self._negotiated = seconds
        self._handshake_done.set()

    def _set_ping_answered(self, sid: int, sent: float) -> None:
        with self._ping_news:
            self._ping_answered = (sid, sent)
            self._ping_news.notify_all()

    def _on_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        for watcher in list(self._watchers):
            watcher()


def _capture_negotiated(client: Any, record: Callable[[float], None]) -> None:
    """Wrap the connection's handshake: kazoo derives its read timeout as 2/3 of the granted
    session timeout (ms) and does not keep the granted value itself."""
    connection = client._connection
    handshake = connection._connect

    def connect(host: str, hostip: str, port: int) -> Sequence[float]:
        read_timeout, connect_timeout = handshake(host, hostip, port)
        record(round(read_timeout * 1.5) / 1000.0)
        return read_timeout, connect_timeout

    connection._connect = connect


def _capture_pings(client: Any, record: Callable[[int, float], None]) -> None:
    """Wrap the connection's ping send and socket read (both on kazoo's connection thread): a
    read that clears ``ping_outstanding`` consumed the answer to the ping sent last. kazoo
    clears the flag without a read only when it (re)connects, and a new ping sets it again."""
    connection = client._connection
    hooks = ("_send_ping", "_read_socket", "ping_outstanding")
    if not all(hasattr(connection, name) for name in hooks):
        return  # another kazoo: no ping evidence, every keep-alive sends its own exists
    send_ping, read_socket = connection._send_ping, connection._read_socket
    sent = [0.0]

    def ping(connect_timeout: float) -> None:
        sent[0] = SYSTEM_CLOCK.now()
        send_ping(connect_timeout)

    def read(read_timeout: float) -> Any:
        waiting = connection.ping_outstanding.is_set()
        result = read_socket(read_timeout)
        client_id = client.client_id
        if waiting and not connection.ping_outstanding.is_set() and client_id is not None:
            record(int(client_id[0]), sent[0])
        return result

    connection._send_ping, connection._read_socket = ping, read
