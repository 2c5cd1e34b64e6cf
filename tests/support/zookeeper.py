"""ZooKeeper tests' helpers: a backend of the test's own, the requests its client sends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import leaselect
from leaselect.backends.zookeeper import ZooKeeperBackend
from leaselect.clock import SYSTEM_CLOCK


def zk(url: str) -> ZooKeeperBackend:
    """A ZooKeeper backend on ``url``; the caller closes it."""
    backend = leaselect.connect(url)
    assert isinstance(backend, ZooKeeperBackend)
    return backend


@contextlib.contextmanager
def submitted_requests(backend: ZooKeeperBackend) -> Iterator[list[tuple[str, float]]]:
    """The type ("Ping", "Exists", ...) and submit time of every request the backend's kazoo
    connection sends meanwhile."""
    connection = backend.conn.client()._connection
    submitted: list[tuple[str, float]] = []
    submit = connection._submit

    def recording(request: Any, timeout: float, xid: int | None = None) -> Any:
        kind = "Ping" if xid == -2 else type(request).__name__
        submitted.append((kind, SYSTEM_CLOCK.now()))
        return submit(request, timeout, xid)

    connection._submit = recording
    try:
        yield submitted
    finally:
        connection._submit = submit
