"""The ZooKeeper connection of one backend: URL options, kazoo client, connection state, errors.

One ``KazooClient`` (one ZooKeeper session) per backend. Its session timeout follows the TTL of
the first session opened; the timeout the servers negotiated is captured at every (re)connect,
because kazoo keeps only the requested one. The connection also numbers kazoo's connections
(epochs), remembers answered requests for the anchor rule (``anchor``) and learns the
ensemble's tickTime.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

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

from ...errors import BackendUnavailable, ConfigError
from ...urls import StoreUrl

DEFAULT_PORT = 2181
DEFAULT_ROOT = "/leaselect"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_TICK = 2.0  # ZooKeeper's sample tickTime, when neither the URL nor ``conf`` tells
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
    tick: float | None = None  # the ensemble's tickTime in seconds, if the URL gives it

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
            hosts,
            root,
            url.redacted,
            url.number("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            user,
            password,
            _tls(url),
            _tick(url.number("tick_time")),
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


def _tick(milliseconds: float | None) -> float | None:
    """``tick_time`` (milliseconds, as ``tickTime`` in zoo.cfg) in seconds."""
    return None if milliseconds is None else milliseconds / 1000.0


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
