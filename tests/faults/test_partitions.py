"""A leader cut off together with the store member it talks to (the case behind the ZooKeeper
two-leaders defect): every member and every contender on a host (network namespace) of its
own, the leader's process beside a follower on that follower's host, and the host's link cut.

The cut-off follower keeps answering the leader for a while (it still has its connection) but
can no longer reach the quorum. The leader must stop believing it leads before the other
contender, served by the majority side, is elected: its renewal evidence counts only what the
quorum's authority has recorded. Both processes run on this machine, so their event times are
on one clock and "before" is exact.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from backends.testbed import topology
from tests.support.sqlite_worker import Worker

from . import netns
from .hosted import HostedCluster

TTL = 3.0
STORES = ("zookeeper", "etcd")
PREFIX, SUBNET = "ls8-", 208  # a network of its own: independent of the fault suite's


@pytest.fixture(scope="module")
def net() -> Iterator[netns.Net]:
    reason = netns.available()
    if reason is not None:
        assert os.environ.get("CI") != "true", f"CI must run real partitions: {reason}"
        pytest.skip(f"needs network namespaces: {reason}")
    made = netns.Net(PREFIX, SUBNET)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module", params=STORES)
def cluster(
    request: pytest.FixtureRequest, net: netns.Net, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostedCluster]:
    store: str = request.param
    if not topology.kind_of(store).installed():
        assert os.environ.get("CI") != "true", f"CI must install {store}"
        pytest.skip(f"{store} is not installed (python3 backends/launch.py up)")
    hosted = HostedCluster(net, store, tmp_path_factory.mktemp(f"hosted-{store}"))
    try:
        hosted.healthy(60)
        yield hosted
    finally:
        hosted.close()


def _token(event: dict[str, Any] | None) -> int:
    assert event is not None
    token = event["token"]
    assert isinstance(token, int)
    return token


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("phase", [0.0, 0.33, 0.66])
def test_a_leader_cut_off_with_its_member_steps_down_before_another_is_elected(
    cluster: HostedCluster, net: netns.Net, phase: float
) -> None:
    """``phase``: where in the renewal cycle (a fraction of ttl / 3) the cut falls."""
    cluster.healthy(60)
    follower = next(m for m in cluster.members if m is not cluster.leader())
    others = [m for m in cluster.members if m is not follower]
    name = f"cut-{uuid.uuid4().hex[:8]}"
    beside = Worker(cluster.url([follower]), name, TTL, prefix=follower.host.wrap([]))
    apart_host = net.host()
    apart: Worker | None = None
    try:
        token = _token(beside.wait_for("elected", 30))
        apart = Worker(cluster.url(others), name, TTL, prefix=apart_host.wrap([]))
        assert apart.wait_for("ready", 30) is not None
        time.sleep(TTL / 3 * (1 + phase) + random.uniform(0, 0.05))
        assert apart.wait_for("elected", 0) is None, "elected while the leader was healthy"
        follower.host.cut()
        cut = time.clock_gettime(time.CLOCK_BOOTTIME)
        lost = beside.wait_for("lost", TTL + 2)
        elected = apart.wait_for("elected", 4 * TTL)
        assert lost is not None, f"the cut-off leader never stepped down: {beside.events}"
        assert elected is not None, f"no leader on the majority side: {apart.events}"
        print(
            f"{cluster.store} cut at phase {phase}: lost ({lost['reason']}) "
            f"+{lost['t'] - cut:.3f}s, other elected +{elected['t'] - cut:.3f}s"
        )
        assert lost["t"] - cut <= TTL, f"stepped down {lost['t'] - cut:.3f}s after the cut"
        assert lost["t"] < elected["t"], (
            f"two leaders for {elected['t'] - lost['t']:.3f}s (cut at {cut:.3f}): "
            f"{beside.events} {apart.events}"
        )
        assert _token(elected) > token
    finally:
        follower.host.heal()
        for worker in (beside, apart):
            if worker is not None:
                worker.stop()
