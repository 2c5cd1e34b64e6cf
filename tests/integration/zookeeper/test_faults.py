"""ZooKeeper fault tests on the real 3-node ensemble of ``backends/launch.py`` (never a mock).

Timing-sensitive: run under ``flock /tmp/leaselect-bench.lock``. Every test leaves all three
members running again.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import leaselect
from backends.testbed import control, health, topology
from leaselect.backends.zookeeper import ZooKeeperBackend
from leaselect.clock import SYSTEM_CLOCK
from leaselect.lease import Lease, LostReason
from tests.support import ROOT
from tests.support.contenders import WORKER
from tests.support.proxy import Proxy
from tests.support.servers import launch_cli
from tests.support.stores import require_url

MEMBERS = ("zookeeper-1", "zookeeper-2", "zookeeper-3")
PORTS = {name: topology.get_member(name).port for name in MEMBERS}
TICK = 0.2  # tickTime of the test ensemble (backends/zookeeper/zoo.cfg.in)

pytestmark = pytest.mark.slow


@pytest.fixture
def url() -> Iterator[str]:
    """The ensemble's URL; every member is running before and after the test."""
    found = require_url("zookeeper")
    launch_cli("up", "zookeeper", timeout=None)
    yield found
    for member in MEMBERS:
        launch_cli("start", member, timeout=None)


@dataclass
class Record:
    """What an elector's callbacks saw, with elector-clock times."""

    elected: list[tuple[float, Lease]] = field(default_factory=list)
    lost: list[tuple[float, Lease, LostReason]] = field(default_factory=list)
    won: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def callbacks(self) -> dict[str, Any]:
        return {"on_elected": self._elected, "on_lost": self._lost}

    def _elected(self, lease: Lease) -> None:
        self.elected.append((SYSTEM_CLOCK.now(), lease))
        self.won.set()

    def _lost(self, lease: Lease, reason: LostReason) -> None:
        self.lost.append((SYSTEM_CLOCK.now(), lease, reason))
        self.done.set()


def connected_member(backend: ZooKeeperBackend) -> str:
    """The member the backend's kazoo client is connected to (test-only introspection)."""
    port = backend.conn.client()._connection._socket.getpeername()[1]
    return next(name for name, p in PORTS.items() if p == port)


def hold_through(url: str, fault: str, ttl: float = 6.0) -> None:
    """Lead, inflict ``fault`` on a ZooKeeper member, stay leader for 2 TTLs, heal."""
    record = Record()
    elector = leaselect.Elector(url, f"z-{uuid.uuid4().hex[:10]}", ttl=ttl, **record.callbacks())
    try:
        assert elector.acquire(timeout=10) is not None
        assert isinstance(elector.backend, ZooKeeperBackend)
        member = (
            connected_member(elector.backend)
            if fault == "connected"
            else health.leader_of("zookeeper")
        )
        assert member is not None, "the ensemble has no leader"
        if fault == "leader":
            control.kill_member(member)
        else:
            control.stop_member(member)
        time.sleep(2 * ttl)
        assert elector.is_leader and not record.lost, f"spurious step-down: {record.lost}"
        launch_cli("start", member, timeout=None)
        time.sleep(ttl / 2)
        assert elector.is_leader and not elector.in_jeopardy
    finally:
        elector.close()


def test_stopping_the_connected_server_causes_no_step_down(url: str) -> None:
    hold_through(url, "connected")


def test_killing_the_ensemble_leader_causes_no_step_down(url: str) -> None:
    hold_through(url, "leader", ttl=10.0)


def test_a_leader_cut_off_steps_down_by_its_deadline_and_another_is_elected(url: str) -> None:
    ttl, name = 4.0, f"z-{uuid.uuid4().hex[:10]}"
    proxies = [Proxy(("127.0.0.1", port)) for port in PORTS.values()]
    via = "zk://" + ",".join(f"127.0.0.1:{p.port}" for p in proxies)
    cut, rival_record = Record(), Record()
    leader = leaselect.Elector(via, name, ttl=ttl, **cut.callbacks())
    rival = leaselect.Elector(url, name, ttl=ttl, **rival_record.callbacks())
    try:
        lease = leader.acquire(timeout=10)
        assert lease is not None
        rival.start()
        time.sleep(0.5)
        for proxy in proxies:
            proxy.drop()
        assert cut.done.wait(2 * ttl), "the cut-off leader never stepped down"
        lost_at, _, reason = cut.lost[0]
        assert reason is LostReason.UNREACHABLE
        assert lost_at <= lease.deadline + 0.05
        assert rival_record.won.wait(2 * ttl), "no new leader"
        elected_at, new_lease = rival_record.elected[0]
        assert elected_at >= lost_at, "tenures overlap"
        assert new_lease.token > lease.token
        for proxy in proxies:
            proxy.heal()
        assert leader.acquire(timeout=1.0) is None, "the old leader came back over the new one"
    finally:
        leader.close()
        rival.close()
        for proxy in proxies:
            proxy.close()


def test_kill_9_of_the_leader_fails_over_within_session_timeout_tick_and_200ms(url: str) -> None:
    ttl, name = 4.0, f"z-{uuid.uuid4().hex[:10]}"
    holder = subprocess.Popen(
        [*WORKER, url, name, str(ttl), "hold"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    rival = leaselect.Elector(url, name, ttl=ttl)
    try:
        assert holder.stdout is not None
        assert any('"elected"' in line for line in holder.stdout)
        rival.start()
        time.sleep(0.5)
        assert not rival.is_leader
        holder.send_signal(signal.SIGKILL)
        killed = SYSTEM_CLOCK.now()
        holder.wait()
        lease = rival.acquire(timeout=2 * ttl)
        assert lease is not None
        assert isinstance(rival.backend, ZooKeeperBackend)
        bound = rival.backend.conn.negotiated + TICK + 0.2
        failover = SYSTEM_CLOCK.now() - killed
        assert failover <= bound, f"failover {failover:.3f}s > {bound:.3f}s"
    finally:
        holder.kill()
        rival.close()
