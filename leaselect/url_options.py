"""What a store URL may say, per scheme: its hosts or path, and every query option the adapters
read (leaselect's own and those the client library takes from the URL), with their values.

An unknown option is refused with the list of valid ones (a typo such as ``?timout=5`` must not
be silently ignored). Each error is one ``ConfigError`` naming the parameter. The option lists
follow the adapters: ``leaselect/backends/sqlite/backend.py`` (``busy_timeout``, ``access``),
``redis/client.py`` (``prefix``, ``timeout``, ``allow_eviction``; the rest goes to redis-py),
``etcd/backend.py`` and ``etcd/transport.py`` (``prefix``, ``timeout``, ``ca``, ``cert``, ``key``),
``zookeeper/client.py`` (``root``, ``connect_timeout``, ``tick_time``, ``ca``, ``cert``,
``key``, ``verify``). A ZooKeeper chroot and ``root=`` follow ZooKeeper's path rules.
``check_files`` (called by ``connect``, not by ``parse``) refuses a file option naming no readable
file and a sqlite path that is a directory. The adapters read number options with
``StoreUrl.number``, which applies the same rules (``check_option``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping

from .errors import ConfigError

log = logging.getLogger("leaselect")
MAX_SECONDS = 3600.0  # the longest timeout option accepted
SECRET_OPTIONS = frozenset({"password", "ssl_password"})


def _seconds(zero_ok: bool) -> Callable[[str, str], None]:
    def check(key: str, text: str) -> None:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        low_ok = value >= 0 if zero_ok else value > 0
        if not (math.isfinite(value) and low_ok and value <= MAX_SECONDS):
            lowest = "0" if zero_ok else "above 0"
            raise ConfigError(
                f"store URL option {key}= must be a number of seconds from {lowest} to "
                f"{MAX_SECONDS:g}, got {text!r}"
            )

    return check


def _one_of(*allowed: str) -> Callable[[str, str], None]:
    def check(key: str, text: str) -> None:
        if text not in allowed:
            raise ConfigError(
                f"store URL option {key}= must be one of {list(allowed)}, got {text!r}"
            )

    return check


def _integer(low: int, high: int) -> Callable[[str, str], None]:
    def check(key: str, text: str) -> None:
        if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
            raise ConfigError(f"store URL option {key}= must be an integer from {low} to {high}")

    return check


def _text(key: str, text: str) -> None:
    if not text or "\0" in text:
        raise ConfigError(f"store URL option {key}= must not be empty or hold a NUL byte")


def _secret(key: str, text: str) -> None:
    if "\0" in text:
        raise ConfigError(f"store URL option {key}= must not hold a NUL byte")


def zk_path_problem(path: str) -> str | None:
    """Why ZooKeeper refuses ``path`` (its ``PathUtils.validatePath`` rules), or None."""
    if not path.startswith("/"):
        return "must start with '/'"
    if path == "/":
        return None
    if path.endswith("/"):
        return "must not end in '/'"
    segments = path[1:].split("/")
    if not all(segments):
        return "must not have an empty segment ('//')"
    if any(segment in (".", "..") for segment in segments):
        return "must not have a '.' or '..' segment"
    if any(_zk_bad_char(char) for char in path):
        return "must not hold a control character (or U+D800-U+F8FF, U+FFF0-U+FFFF)"
    return None


def _zk_bad_char(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xF8FF or code >= 0xFFF0


def _zk_root(key: str, text: str) -> None:
    root = "/" + text.strip("/")  # as the adapter reads it: root=leaselect/ is /leaselect
    problem = "must not be '/'" if root == "/" else zk_path_problem(root)
    if problem is not None:
        raise ConfigError(
            f"store URL option {key}= is a ZooKeeper path that {problem}, got {text!r}"
        )


_TICK = _integer(1, 2**31 - 1)  # milliseconds, as tickTime in zoo.cfg
_BOOL = _one_of("true", "false", "1", "0", "yes", "no")
_REDIS: dict[str, Callable[[str, str], None]] = {
    "prefix": _text,
    "timeout": _seconds(zero_ok=False),
    "db": _integer(0, 2**31 - 1),
    "username": _text,
    "password": _secret,
    "client_name": _text,
    "protocol": _one_of("2", "3"),
    "socket_keepalive": _BOOL,
    "allow_eviction": _one_of("1", "true", "yes", "0", "false", "no"),
}
_REDIS_TLS: dict[str, Callable[[str, str], None]] = {
    "ssl_cert_reqs": _one_of("none", "optional", "required"),
    "ssl_check_hostname": _BOOL,
    "ssl_ca_certs": _text,
    "ssl_ca_path": _text,
    "ssl_certfile": _text,
    "ssl_keyfile": _text,
    "ssl_password": _secret,
    "ssl_ciphers": _text,
}
_TLS_FILES: dict[str, Callable[[str, str], None]] = {"ca": _text, "cert": _text, "key": _text}
OPTIONS: dict[str, dict[str, Callable[[str, str], None]]] = {
    "sqlite": {"busy_timeout": _seconds(zero_ok=True), "access": _one_of("owner", "group", "all")},
    "redis": _REDIS,
    "rediss": {**_REDIS, **_REDIS_TLS},
    "unix": _REDIS,
    "etcd": {"prefix": _text, "timeout": _seconds(zero_ok=False)},
    "etcds": {"prefix": _text, "timeout": _seconds(zero_ok=False), **_TLS_FILES},
    "zk": {"root": _zk_root, "connect_timeout": _seconds(zero_ok=False), "tick_time": _TICK},
    "zks": {
        "root": _zk_root,
        "connect_timeout": _seconds(zero_ok=False),
        "tick_time": _TICK,
        "verify": _one_of("0", "1"),
        **_TLS_FILES,
    },
}
_HINTS = {
    "socket_timeout": "leaselect sets it from timeout=",
    "socket_connect_timeout": "leaselect sets it from timeout=",
    "health_check_interval": "leaselect checks connections itself",
    "retry_on_timeout": "a hidden retry could outlast the lease; leaselect retries itself",
    "retry_on_error": "a hidden retry could outlast the lease; leaselect retries itself",
}


def check(
    scheme: str,
    hosts: tuple[tuple[str, int | None], ...],
    path: str,
    options: Mapping[str, str],
) -> None:
    """Refuse what ``scheme`` cannot use; unknown schemes are left to ``connect``."""
    if scheme not in OPTIONS:
        return
    for key, value in options.items():
        check_option(scheme, key, value)
    _check_location(scheme, hosts, path, options)
    _warn_unverified(scheme, options)


def check_option(scheme: str, key: str, text: str) -> None:
    """Refuse ``text`` as the value of option ``key`` of a ``scheme`` URL, or an option the
    scheme does not have: a ``ConfigError`` naming the option (``scheme`` must be known)."""
    valid = OPTIONS[scheme]
    checker = valid.get(key)
    if checker is None:
        hint = f" ({_HINTS[key]})" if key in _HINTS else ""
        raise ConfigError(
            f"unknown option {key!r} in a {scheme}:// URL{hint}; valid options: "
            f"{', '.join(sorted(valid))}"
        )
    checker(key, text)


_UNVERIFIED = {  # option -> the values that turn server verification off
    ("rediss", "ssl_cert_reqs"): ("none", "optional"),
    ("rediss", "ssl_check_hostname"): ("false", "0", "no"),
    ("zks", "verify"): ("0",),
}


def _warn_unverified(scheme: str, options: Mapping[str, str]) -> None:
    for (where, key), values in _UNVERIFIED.items():
        if where == scheme and options.get(key) in values:
            log.warning(
                "%s://: %s=%s turns off checking the server's certificate or host name: "
                "anyone on the network path can pose as the store",
                scheme,
                key,
                options[key],
            )


def _check_location(
    scheme: str,
    hosts: tuple[tuple[str, int | None], ...],
    path: str,
    options: Mapping[str, str],
) -> None:
    if "\0" in path:
        raise ConfigError(f"the path of a {scheme}:// URL must not hold a NUL byte")
    if scheme == "sqlite":
        if path.strip("/") and path.endswith("/"):
            raise ConfigError(
                f"the path of a sqlite:// URL names a directory (it ends in '/'), got {path!r}: "
                "name the database file"
            )
        return  # the adapter checks three slashes and an empty host
    if scheme == "unix":
        if hosts or not path.strip("/"):
            raise ConfigError("a unix:// URL needs the socket's path: unix:///run/redis.sock")
        return
    if not hosts or any(not host for host, _ in hosts):
        raise ConfigError(f"a {scheme}:// URL needs a host: {scheme}://HOST[:PORT]...")
    if scheme in ("redis", "rediss"):
        _check_redis_db(path, options)
    if scheme in ("zk", "zks") and path:
        problem = zk_path_problem(path)
        if problem is not None:
            raise ConfigError(f"the chroot of a {scheme}:// URL {problem}, got {path!r}")


def _check_redis_db(path: str, options: Mapping[str, str]) -> None:
    db = path.strip("/")
    if not db:
        return
    if not (db.isascii() and db.isdigit()):
        raise ConfigError(
            f"the path of a redis URL is the db number (redis://HOST:PORT/0), got {db!r}"
        )
    if "db" in options and options["db"] != db:
        raise ConfigError("a redis URL names two different dbs (the path and db=)")


_FILE_OPTIONS = frozenset({"ca", "cert", "key", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile"})
_DIRECTORY_OPTIONS = frozenset({"ssl_ca_path"})


def check_files(scheme: str, path: str, options: Mapping[str, str]) -> None:
    """Refuse a file option naming no readable file, and a sqlite path that is a directory."""
    valid = OPTIONS.get(scheme, {})
    for key, value in options.items():
        if key in valid and key in _FILE_OPTIONS and not _readable(value, os.path.isfile):
            raise ConfigError(f"store URL option {key}= names no readable file: {value!r}")
        if key in valid and key in _DIRECTORY_OPTIONS and not _readable(value, os.path.isdir):
            raise ConfigError(f"store URL option {key}= names no readable directory: {value!r}")
    if scheme == "sqlite" and path.strip("/"):
        file = os.path.normpath("/" + path.lstrip("/"))
        if os.path.isdir(file):
            raise ConfigError(
                f"the path of a sqlite:// URL names a directory, got {file!r}: "
                "name the database file"
            )


def _readable(path: str, kind: Callable[[str], bool]) -> bool:
    return kind(path) and os.access(path, os.R_OK)
