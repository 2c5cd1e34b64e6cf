"""ZooKeeper connection and node events reach the elector at once (the real test ensemble).

SUSPENDED is jeopardy within 50 ms; our node deleted, or our session closed by another client,
ends the tenure at once; a resign that failed while suspended completes when the connection is
back, and ``leader()`` never names a candidacy that gave up; a waiter campaigns again as soon as
it reconnects. A leader or waiter reaches one member through a black-holing proxy; shutting its
kazoo socket down makes kazoo report SUSPENDED at once (test-only introspection).
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient, KazooState

import leaselect
from leaselect.backends.zookeeper import ZooKeeperBackend
from leaselect.clock import SYSTEM_CLOCK
from leaselect.lease import Lease, LostReason
from tests.support.proxy import Proxy

pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(url: str) -> Iterator[Proxy]:
    host, port = url.removeprefix("zk://").split(",")[0].rsplit(":", 1)
    forward = Proxy((host, int(port)))
    yield forward
    forward.close()


@pytest.fixture
def raw(url: str) -> Iterator[KazooClient]:
    client = KazooClient(hosts=url.removeprefix("zk://"))
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


def kazoo_of(elector: leaselect.Elector) -> Any:
    assert isinstance(elector.backend, ZooKeeperBackend)
    return elector.backend.conn.client()


def suspend(elector: leaselect.Elector, proxy: Proxy) -> None:
    """Cut the proxy and drop the elector's connection: kazoo reports SUSPENDED at once and
    cannot reconnect until ``proxy.heal()``."""
    proxy.hold()
    kazoo_of(elector)._connection._socket.shutdown(socket.SHUT_RDWR)


def first_time(condition: Callable[[], bool], timeout: float) -> float | None:
    """When ``condition`` first held (SYSTEM_CLOCK), polling every 0.5 ms; None on timeout."""
    deadline = SYSTEM_CLOCK.now() + timeout
    while SYSTEM_CLOCK.now() < deadline:
        if condition():
            return SYSTEM_CLOCK.now()
        time.sleep(0.0005)
    return None


def test_suspended_is_jeopardy_within_50_ms(proxy: Proxy) -> None:
    elector = leaselect.Elector(f"zk://{proxy.address}", f"s-{uuid.uuid4().hex[:8]}", ttl=6.0)
    try:
        assert elector.acquire(timeout=10) is not None
        time.sleep(0.5)
        suspended: list[float] = []
        kazoo_of(elector).add_listener(
            lambda state: (
                suspended.append(SYSTEM_CLOCK.now()) if state == KazooState.SUSPENDED else None
            )
        )
        suspend(elector, proxy)
        jeopardy = first_time(lambda: elector.in_jeopardy, 3.0)
        assert suspended and jeopardy is not None
        assert jeopardy - suspended[0] <= 0.05, f"jeopardy {jeopardy - suspended[0]:.3f} s late"
        assert elector.is_leader
    finally:
        proxy.heal()
        elector.close()


def recording(reasons: list[LostReason]) -> Callable[[Lease, LostReason], None]:
    return lambda _lease, reason: reasons.append(reason)


def test_a_deleted_node_ends_the_tenure_at_once(url: str, raw: KazooClient) -> None:
    name, reasons = f"d-{uuid.uuid4().hex[:8]}", list[LostReason]()
    elector = leaselect.Elector(url, name, ttl=6.0, on_lost=recording(reasons))
    try:
        assert elector.acquire(timeout=10) is not None
        time.sleep(1.0)  # between two renewals
        (node,) = raw.get_children(f"/leaselect/{name}")
        deleted = SYSTEM_CLOCK.now()
        raw.delete(f"/leaselect/{name}/{node}")
        ended = first_time(lambda: not elector.is_leader, 3.0)
        assert ended is not None and ended - deleted <= 0.1, f"led {ended and ended - deleted}"
        time.sleep(0.1)
        assert reasons == [LostReason.TAKEN]
    finally:
        elector.close()


def test_a_session_closed_by_another_client_ends_the_tenure_at_once(url: str) -> None:
    elector = leaselect.Elector(url, f"c-{uuid.uuid4().hex[:8]}", ttl=6.0)
    try:
        assert elector.acquire(timeout=10) is not None
        time.sleep(1.0)
        client = kazoo_of(elector)
        twin = KazooClient(hosts=url.removeprefix("zk://"), client_id=client.client_id, timeout=6)
        twin.start(timeout=10)
        closed = SYSTEM_CLOCK.now()
        twin.stop()  # closes the session: our node goes with it
        twin.close()
        ended = first_time(lambda: not elector.is_leader, 3.0)
        assert ended is not None and ended - closed <= 0.15, f"led {ended and ended - closed}"
    finally:
        elector.close()


def test_a_resign_that_failed_while_suspended_completes_on_reconnect(
    url: str, proxy: Proxy
) -> None:
    """Released while suspended: the node goes as soon as the connection is back (the session
    keeps that duty; no campaign thread runs any more), and ``leader()`` never names it."""
    name = f"r-{uuid.uuid4().hex[:8]}"
    a = leaselect.Elector(f"zk://{proxy.address}", name, ttl=6.0, identity="a")
    b = leaselect.Elector(url, name, ttl=6.0, identity="b")
    try:
        assert a.acquire(timeout=10) is not None
        b.start()
        time.sleep(0.5)
        suspend(a, proxy)
        time.sleep(0.2)
        a.release()  # its resign fails: no connection
        time.sleep(0.5)
        healed = SYSTEM_CLOCK.now()
        proxy.heal()
        named: list[str] = []

        def b_leads() -> bool:
            with_leader = None
            with contextlib.suppress(leaselect.BackendUnavailable):
                with_leader = a.leader()
            if with_leader is not None:
                named.append(with_leader.identity)
            return b.is_leader

        elected = first_time(b_leads, 5.0)
        assert elected is not None, "the released node stranded the election"
        assert elected - healed <= 2.0, f"b elected {elected - healed:.2f} s after the heal"
        assert "a" not in named, "leader() named a candidacy that had given up"
    finally:
        proxy.heal()
        b.close()
        a.close()


def test_a_waiter_campaigns_again_as_soon_as_it_reconnects(url: str, proxy: Proxy) -> None:
    """Suspended long enough for its campaign backoff to grow, the waiter misses the release;
    once reconnected it campaigns at once instead of sleeping out its backoff."""
    name = f"w-{uuid.uuid4().hex[:8]}"
    a = leaselect.Elector(url, name, ttl=6.0, identity="a")
    b = leaselect.Elector(f"zk://{proxy.address}", name, ttl=10.0, identity="b")
    try:
        assert a.acquire(timeout=10) is not None
        b.start()
        time.sleep(0.5)
        suspend(b, proxy)
        time.sleep(5.0)  # campaign retries back off: 0.1, 0.2, 0.4, 0.8, 1.6, 3.2 s
        a.release()
        healed = SYSTEM_CLOCK.now()
        proxy.heal()
        elected = first_time(lambda: b.is_leader, 8.0)
        assert elected is not None
        assert elected - healed <= 0.5, f"b elected {elected - healed:.2f} s after reconnecting"
    finally:
        proxy.heal()
        b.close()
        a.close()
