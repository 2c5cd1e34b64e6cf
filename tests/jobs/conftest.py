"""Stores the leader-only tests run on: the embedded one, plus one real store.

The real store is the first of ``REAL_STORES`` whose adapter module exists (override with
``LEASELECT_JOBS_STORES=sqlite,etcd``); its URL comes from ``LEASELECT_TEST_*_URL``.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stores import STORES, url_for

REAL_STORES = ("redis", "etcd", "zookeeper")


def _chosen() -> list[str]:
    if os.environ.get("LEASELECT_JOBS_STORES"):
        return os.environ["LEASELECT_JOBS_STORES"].split(",")
    real = [k for k in REAL_STORES if importlib.util.find_spec(f"leaselect.backends.{k}")]
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
