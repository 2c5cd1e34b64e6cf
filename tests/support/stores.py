"""Where the test stores are: ``LEASELECT_TEST_*_URL`` from the environment or ``.env``."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from dotenv import dotenv_values

from backends.testbed import env_names

ENV_FILES = (".env", ".backends-state/test.env")


@dataclass(frozen=True)
class Store:
    """One backend under test: how to reach it and what it can do."""

    kind: str
    env: str | None
    unreachable: str
    fast_ttl: float  # the smallest TTL the tests use with this store


STORES = {
    "sqlite": Store("sqlite", None, "sqlite:////nonexistent-dir/leaselect/x.db", 1.0),
    "redis": Store("redis", env_names.REDIS_URL, "redis://127.0.0.1:1/0", 1.0),
    "etcd": Store("etcd", env_names.ETCD_URL, "etcd://127.0.0.1:1", 2.0),
    "zookeeper": Store("zookeeper", env_names.ZK_URL, "zk://127.0.0.1:1", 2.0),
}


def implemented(kind: str) -> bool:
    """Whether leaselect has an adapter module for store ``kind``."""
    return importlib.util.find_spec(f"leaselect.backends.{kind}") is not None


def configured_url(store: Store) -> str | None:
    """The store's URL from the environment, else from a .env file, else None."""
    if store.env is None:
        return None
    if os.environ.get(store.env):
        return os.environ[store.env]
    for path in ENV_FILES:
        value = dotenv_values(path).get(store.env) if os.path.exists(path) else None
        if value:
            return value
    return None


def require_url(kind: str) -> str:
    """The URL of store ``kind``; under CI a missing one fails the test, elsewhere it skips."""
    import pytest  # only tests call this

    store = STORES[kind]
    url = configured_url(store)
    if url is None:
        message = f"{store.env} is not set: start the stores with python3 backends/launch.py up"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


def url_for(kind: str, tmp_dir: str) -> str:
    """A URL of ``kind``: a fresh embedded file under ``tmp_dir``, or the configured server."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_dir}/leases.db"
    return require_url(kind)
