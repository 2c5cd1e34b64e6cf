"""Connecting to Redis: URL to connection pools, and redis-py errors to leaselect errors.

Two pools per backend: one for short commands (socket timeout ``timeout``) and one for the
blocking pops of ``wakes``, whose socket timeout exceeds the longest BLPOP we issue.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import redis

from ...errors import BackendUnavailable, ConfigError
from ...logfields import store_log
from ...urls import StoreUrl, redact

DEFAULT_PREFIX = "leaselect:"
DEFAULT_TIMEOUT = 3.0
MAX_BLOCK = 30.0  # the longest single BLPOP; a longer wait is several
MAX_CONNECTIONS = 32  # the command pool's size unless the URL says max_connections=
log = store_log("redis")
PASSWORD_ENV = ("LEASELECT_REDIS_PASSWORD", "REDIS_PASSWORD")
_OURS = ("prefix", "timeout", "allow_eviction")
_YES = ("1", "true", "yes")


@dataclass(frozen=True)
class RedisSettings:
    """What leaselect reads from a redis URL besides what redis-py reads."""

    url: str  # the URL for redis-py, without leaselect's own options
    redacted: str
    prefix: str
    timeout: float
    password: str | None
    allow_eviction: bool = False  # accept a Redis whose maxmemory-policy can evict our keys


def settings(url: StoreUrl) -> RedisSettings:
    """Validate ``url`` and pick out leaselect's options (``prefix``, ``timeout``)."""
    if url.scheme in ("redis", "rediss") and len(url.hosts) > 1:
        raise ConfigError(f"a redis URL names one server, got {url.redacted!r}")
    prefix = url.options.get("prefix", DEFAULT_PREFIX)
    if not prefix or not prefix.isprintable() or any(c in prefix for c in "{} "):
        raise ConfigError(f"redis prefix must be printable, without spaces or braces: {prefix!r}")
    timeout = url.number("timeout", DEFAULT_TIMEOUT)
    password = url.password
    if password is None:
        password = next((os.environ[k] for k in PASSWORD_ENV if os.environ.get(k)), None)
    allow = url.options.get("allow_eviction", "0").lower()
    if allow not in (*_YES, "0", "false", "no"):
        raise ConfigError(f"redis allow_eviction= must be 1 or 0, got {allow!r}")
    return RedisSettings(
        _strip_options(url.raw), url.redacted, prefix, timeout, password, allow in _YES
    )


def _strip_options(raw: str) -> str:
    base, _, query = raw.partition("?")
    kept = urlencode([(k, v) for k, v in parse_qsl(query) if k not in _OURS])
    return f"{base}?{kept}" if kept else base


def make_pools(conf: RedisSettings) -> tuple[redis.ConnectionPool, redis.ConnectionPool]:
    """The command pool and the blocking-pop pool for ``conf``.

    The command pool holds at most ``max_connections`` (URL option, default
    ``MAX_CONNECTIONS``) and a command that finds them all busy waits for one up to the
    store timeout: a thousand campaigns at once queue instead of failing. The blocking pool
    serves the one connection that waits for wake-ups (``wakes``)."""

    def pool(
        kind: type[redis.ConnectionPool], socket_timeout: float, **sizing: object
    ) -> redis.ConnectionPool:
        extra: dict[str, object] = {"password": conf.password} if conf.password else {}
        try:
            return kind.from_url(
                conf.url,
                socket_connect_timeout=conf.timeout,
                socket_timeout=socket_timeout,
                health_check_interval=0,
                **sizing,
                **extra,
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bad redis URL {conf.redacted!r}: {redact(str(exc))}") from None

    commands = pool(
        redis.BlockingConnectionPool,
        conf.timeout,
        max_connections=MAX_CONNECTIONS,
        timeout=conf.timeout,
    )
    return commands, pool(redis.ConnectionPool, MAX_BLOCK + conf.timeout)


@contextmanager
def mapped_errors(where: str) -> Iterator[None]:
    """Turn redis-py errors raised inside into ``BackendUnavailable`` or ``ConfigError``."""
    try:
        yield
    except ConfigError:
        raise  # ours, raised inside (a ValueError, which the socket case below would take)
    except (redis.AuthenticationError, redis.exceptions.AuthorizationError) as exc:
        raise ConfigError(f"redis {where} refused our credentials: {redact(str(exc))}") from None
    except redis.exceptions.NoPermissionError as exc:
        raise ConfigError(f"redis {where}: the user lacks a permission: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError, ValueError) as exc:
        # OSError/ValueError: a socket closed under us (the backend closing in another thread)
        raise BackendUnavailable(f"redis {where} unreachable: {redact(str(exc))}") from None
    except redis.RedisError as exc:
        raise BackendUnavailable(f"redis {where} failed: {redact(str(exc))}") from None


def check_eviction(client: redis.Redis, conf: RedisSettings) -> None:
    """Refuse (``ConfigError``) a Redis that may evict our keys, unless ``allow_eviction``.

    With ``maxmemory`` set, ``allkeys-*`` policies may evict the token counter and a live lease,
    ``volatile-*`` policies a live lease (it has a TTL): a second leader while the first still
    leads. A server that does not let us read its config (``CONFIG`` renamed or not permitted)
    is accepted with a warning: tokens still never go back (the time floor of the scripts).
    """
    try:
        found: dict[str, str] = client.config_get("maxmemory*")  # type: ignore[assignment]
    except redis.ResponseError as exc:  # NOPERM, or an unknown (renamed) command
        log.warning(
            "redis %s: cannot read maxmemory-policy (%s); make sure it is noeviction",
            conf.redacted,
            exc,
        )
        return
    policy = str(found.get("maxmemory-policy", "noeviction"))
    if int(found.get("maxmemory", 0) or 0) == 0 or policy == "noeviction" or conf.allow_eviction:
        return
    raise ConfigError(
        f"redis {conf.redacted} has maxmemory-policy {policy} with maxmemory set: it may evict "
        "a live lease (two leaders) or the token counter; set maxmemory-policy noeviction, or "
        "add allow_eviction=1 to the URL to accept that (tokens still never go back)"
    )
