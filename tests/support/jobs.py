"""Stores the leader-only tests run on: the embedded one, plus one real store.

The real store is the first of ``REAL_STORES`` whose adapter module exists (override with
``LEASELECT_JOBS_STORES=sqlite,etcd``); its URL comes from ``LEASELECT_TEST_*_URL``. Also what
those tests do to a store: take its lease, stall it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

import leaselect
from tests.support.stores import STORES, implemented, url_for

REAL_STORES = ("redis", "etcd", "zookeeper")


def _chosen() -> list[str]:
    if os.environ.get("LEASELECT_JOBS_STORES"):
        return os.environ["LEASELECT_JOBS_STORES"].split(",")
    real = [k for k in REAL_STORES if implemented(k)]
    return ["sqlite", *real[:1]]


@dataclass(frozen=True)
class JobStore:
    """A store to run leader-only work on: its URL and the TTL the tests use with it."""

    kind: str
    url: str
    ttl: float


@pytest.fixture(params=_chosen())
def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    """Each store the leader-only tests cover."""
    kind = request.param
    return JobStore(kind, url_for(kind, str(tmp_path)), STORES[kind].fast_ttl)


def take_lease(store: JobStore, name: str) -> None:
    """Delete the leader's lease in the store, as an operator or a buggy peer would."""
    backend = leaselect.connect(store.url)
    try:
        assert backend.expire_lease(name), f"nobody leads {name!r}"
    finally:
        backend.close()


def stall_store(store: JobStore, seconds: float) -> None:
    """Make the store answer nobody for ``seconds`` (the leader's renewals hang, then pass)."""
    if store.kind == "sqlite":
        db = sqlite3.connect(store.url.removeprefix("sqlite://"), isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        db.execute("ROLLBACK")
        db.close()
    elif store.kind == "redis":
        client = redis.Redis.from_url(store.url)
        client.client_pause(round(seconds * 1000))
        time.sleep(seconds)
        client.close()
    else:
        pytest.skip(f"no stall for {store.kind}")
