"""Faults of the store itself, through ``backends.testbed``: member loss, Redis restarts."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from backends.testbed import control, health, topology

from .cluster import Cluster, Contender
from .nemesis import Fault, Nemesis

MEMBERS = {
    "etcd": ("etcd-1", "etcd-2", "etcd-3"),
    "zookeeper": ("zookeeper-1", "zookeeper-2", "zookeeper-3"),
}


def _store_of(cluster: Cluster) -> str:
    scheme = cluster.url.split("://", 1)[0]
    return {"etcd": "etcd", "etcds": "etcd", "zk": "zookeeper", "zks": "zookeeper"}.get(
        scheme, "redis"
    )


def _member_fault(pick_leader: bool, kill: bool) -> Nemesis:
    def fault(cluster: Cluster) -> Fault | None:
        store = _store_of(cluster)
        control.up([store])
        if cluster.await_leader(cluster.ttl + 5) is None:
            return None
        leader = health.leader_of(store)
        names = [m for m in MEMBERS[store] if (m == leader) == pick_leader]
        if not names:
            return None
        member = names[0]
        start = time.monotonic()
        (control.kill_member if kill else control.stop_member)(member)
        time.sleep(cluster.ttl + 1.0)
        end = time.monotonic()
        control.start_member(member)
        time.sleep(1.0)
        what = ("kill" if kill else "stop") + (" store leader" if pick_leader else " follower")
        return Fault(what, f"store:{member}", start, end, True, False, True)

    return fault


def _redis_restart(persistence: str) -> Nemesis:
    def fault(cluster: Cluster) -> Fault | None:
        if cluster.await_leader(cluster.ttl + 5) is None:
            return None
        start = time.monotonic()
        control.restart_redis(persistence)
        end = time.monotonic()
        time.sleep(cluster.ttl + 1.0)
        inside = persistence != "off"
        kind = "redis restart " + ("(no persistence)" if not inside else f"(aof {persistence})")
        return Fault(kind, "store:redis", start, end, inside, False, inside)

    fault.__name__ = f"redis_restart_{persistence}"
    return fault


def _connected_member(cluster: Cluster, leader: Contender, store: str) -> str | None:
    """The store member the leader's client talks to: the one whose proxy answered last."""
    by_port = {topology.get_member(m).port: m for m in MEMBERS[store]}
    talking = max(leader.proxies, key=lambda p: p.last_reply, default=None)
    return None if talking is None else by_port.get(talking.target[1])


def _connected_follower_fault(at_reply: bool) -> Nemesis:
    """kill -9 the member the leader is connected to, right after it answered the leader
    (``at_reply``: the leader's newest renewal evidence came from it) or at a random point of
    the renewal cycle."""

    def fault(cluster: Cluster) -> Fault | None:
        store = _store_of(cluster)
        control.up([store])
        leader = cluster.await_leader(cluster.ttl + 5)
        if leader is None:
            return None
        member = _connected_member(cluster, leader, store)
        if member is None:
            return None
        proxy = next(p for p in leader.proxies if p.target[1] == topology.get_member(member).port)
        if at_reply:
            proxy.replied.clear()
            proxy.replied.wait(cluster.ttl)
        else:
            time.sleep(random.uniform(0, cluster.ttl / 3))
        role = "leader" if health.leader_of(store) == member else "follower"
        start = time.monotonic()
        control.kill_member(member)
        time.sleep(cluster.ttl + 1.0)
        end = time.monotonic()
        control.start_member(member)
        time.sleep(1.0)
        when = "right after its reply" if at_reply else "at a random point"
        return Fault(
            f"kill -9 connected {role} {when}", f"store:{member}", start, end, True, False, False
        )

    fault.__name__ = f"kill_connected_{'at_reply' if at_reply else 'random'}"
    return fault


STORE_NEMESES: dict[str, list[Nemesis]] = {
    "redis": [_redis_restart("always"), _redis_restart("off")],
    "etcd": [
        _member_fault(False, False),
        _member_fault(True, True),
        _connected_follower_fault(False),
    ],
    "zookeeper": [
        _member_fault(False, False),
        _member_fault(True, True),
        _connected_follower_fault(True),
        _connected_follower_fault(False),
    ],
}


def restore(store: str) -> Callable[[], None]:
    """Put the store back into its default state after a run."""

    def undo() -> None:
        if store == "redis":
            control.restart_redis("everysec")
        else:
            control.up([store])

    return undo


def store_down_at_start(store: str) -> Callable[[Cluster], None]:
    """The whole store down while the contenders start; back after 2 x TTL."""

    def down(cluster: Cluster) -> None:
        control.down([store])
        time.sleep(2 * cluster.ttl)
        control.up([store])

    return down
