"""``connect(url)``: choose a backend by URL scheme, importing its client only when used."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .backend import Backend
from .errors import ConfigError
from .urls import check_local, parse


@dataclass(frozen=True)
class _Entry:
    module: str
    cls: str
    extra: str | None
    client: str | None


_SCHEMES: dict[str, _Entry] = {
    "sqlite": _Entry("leaselect.backends.sqlite", "SqliteBackend", None, None),
    "redis": _Entry("leaselect.backends.redis", "RedisBackend", "redis", "redis"),
    "rediss": _Entry("leaselect.backends.redis", "RedisBackend", "redis", "redis"),
    "unix": _Entry("leaselect.backends.redis", "RedisBackend", "redis", "redis"),
    "etcd": _Entry("leaselect.backends.etcd", "EtcdBackend", "etcd", "etcd3gw"),
    "etcds": _Entry("leaselect.backends.etcd", "EtcdBackend", "etcd", "etcd3gw"),
    "zk": _Entry("leaselect.backends.zookeeper", "ZooKeeperBackend", "zookeeper", "kazoo"),
    "zks": _Entry("leaselect.backends.zookeeper", "ZooKeeperBackend", "zookeeper", "kazoo"),
}


def schemes() -> list[str]:
    """Every URL scheme ``connect`` understands."""
    return sorted(_SCHEMES)


def connect(url: str) -> Backend:
    """A backend for ``url`` (``sqlite:///path``, ``redis://``, ``etcd://``, ``zk://``...)."""
    parsed = parse(url)
    entry = _SCHEMES.get(parsed.scheme)
    if entry is None:
        raise ConfigError(f"unknown store scheme {parsed.scheme!r}; use one of {schemes()}")
    check_local(parsed)
    _require_client(entry)
    try:
        module = importlib.import_module(entry.module)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the {parsed.scheme}:// backend is not available: {exc}") from None
    backend_class: type[Backend] = getattr(module, entry.cls)
    return backend_class.from_url(parsed)


def _require_client(entry: _Entry) -> None:
    if entry.client is None:
        return
    try:
        importlib.import_module(entry.client)
    except ImportError:
        raise ConfigError(
            f"the {entry.client} client is not installed; "
            f"run: pip install 'leaselect[{entry.extra}]'"
        ) from None
