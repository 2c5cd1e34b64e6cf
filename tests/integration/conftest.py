"""Fixtures shared by the store-specific integration tests."""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support.servers import launch_cli


@pytest.fixture
def name() -> str:
    """A fresh election name."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def timing_lock() -> Iterator[None]:
    """Only one timing-sensitive run on the machine at a time (unless run under the lock)."""
    if os.environ.get("LEASELECT_BENCH_LOCKED"):
        yield
        return
    with open("/tmp/leaselect-bench.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def restarted() -> Iterator[list[str]]:
    """Members of the shared servers this test kills or stops; started again afterwards."""
    members: list[str] = []
    yield members
    for member in members:
        launch_cli("start", member)
