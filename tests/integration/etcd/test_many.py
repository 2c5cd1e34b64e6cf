"""etcd: many elections on one backend stay within the server's limits.

etcd refuses a transaction of more than ``--max-txn-ops`` operations (128 by default) as a
whole, so one keep-alive check over every leader of a backend would fail every renewal from
the 129th leader on; and concurrent first campaigns of one session must share one lease.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import leaselect
from leaselect.backends.etcd.backend import MAX_TXN_OPS, EtcdBackend
from leaselect.backends.etcd.transport import Json, TooManyOps
from leaselect.lease import Lease, LostReason

TTL = 3.0


@pytest.mark.timeout(120)
def test_three_hundred_leaders_on_one_backend_keep_renewing(url: str, name: str) -> None:
    backend = leaselect.connect(url)
    lost: list[tuple[int, LostReason]] = []

    def on_lost(lease: Lease, reason: LostReason) -> None:
        lost.append((lease.token, reason))

    electors = [
        leaselect.Elector(backend, f"{name}-{i}", ttl=TTL, on_lost=on_lost) for i in range(300)
    ]
    try:
        leases = [elector.acquire(timeout=10) for elector in electors]
        assert all(lease is not None for lease in leases)
        time.sleep(TTL + 1)  # past every first deadline: only renewals keep them leading
        assert not lost, lost[:5]
        assert all(elector.is_leader for elector in electors)
    finally:
        for elector in electors:
            elector.close()
        backend.close()


def test_concurrent_first_campaigns_share_one_lease(url: str, name: str) -> None:
    backend = leaselect.connect(url)
    assert isinstance(backend, EtcdBackend)
    grants: list[str] = []
    post = backend.transport.post

    def counting(path: str, body: Json) -> Json:
        if path == "lease/grant":
            grants.append(path)
        return post(path, body)

    backend.transport.post = counting  # type: ignore[method-assign]
    electors = [leaselect.Elector(backend, f"{name}-{i}", ttl=TTL) for i in range(20)]
    barrier = threading.Barrier(len(electors))

    def campaign(elector: leaselect.Elector) -> None:
        barrier.wait()
        elector.acquire(timeout=10)

    threads = [threading.Thread(target=campaign, args=(e,)) for e in electors]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert all(elector.is_leader for elector in electors)
        assert len(grants) == 1
    finally:
        for elector in electors:
            elector.close()
        backend.close()


class LimitedServer:
    """Answers ``kv/txn`` like an etcd whose ``--max-txn-ops`` is ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sizes: list[int] = []

    def post(self, path: str, body: Json) -> Json:
        size = len(body.get("compare", [])) + len(body.get("success", []))
        if size > self.limit:
            raise TooManyOps("etcdserver: too many operations in txn request")
        self.sizes.append(size)
        return {"succeeded": True}


@pytest.mark.parametrize("limit", [MAX_TXN_OPS, 50, 1])
def test_transactions_are_split_to_the_servers_limit(limit: int) -> None:
    backend = EtcdBackend.__new__(EtcdBackend)
    backend.max_txn_ops = MAX_TXN_OPS
    server = LimitedServer(limit)
    backend.post = server.post  # type: ignore[method-assign]
    items: list[Any] = [{"n": i} for i in range(300)]
    replies = backend.txns(items, lambda chunk: {"compare": chunk})
    assert sum(server.sizes) == 300 and max(server.sizes) <= limit
    assert len(replies) == len(server.sizes)
