"""Faults of the store itself, through ``backends/launch.py``: member loss, Redis restarts."""

from __future__ import annotations

import time
from collections.abc import Callable

from backends import launch

from .cluster import Cluster
from .nemesis import Fault, Nemesis

MEMBERS = {"etcd": ("etcd-1", "etcd-2", "etcd-3"),
           "zookeeper": ("zookeeper-1", "zookeeper-2", "zookeeper-3")}


def _store_of(cluster: Cluster) -> str:
    scheme = cluster.url.split("://", 1)[0]
    return {"etcd": "etcd", "etcds": "etcd", "zk": "zookeeper", "zks": "zookeeper"}.get(
        scheme, "redis"
    )


def _member_fault(pick_leader: bool, kill: bool) -> Nemesis:
    def fault(cluster: Cluster) -> Fault | None:
        store = _store_of(cluster)
        launch.up([store])
        if cluster.await_leader(cluster.ttl + 5) is None:
            return None
        leader = launch.leader_of(store)
        names = [m for m in MEMBERS[store] if (m == leader) == pick_leader]
        if not names:
            return None
        member = names[0]
        start = time.monotonic()
        (launch.kill_member if kill else launch.stop_member)(member)
        time.sleep(cluster.ttl + 1.0)
        end = time.monotonic()
        launch.start_member(member)
        time.sleep(1.0)
        what = ("kill" if kill else "stop") + (" store leader" if pick_leader else " follower")
        return Fault(what, f"store:{member}", start, end, True, False, True)

    return fault


def _redis_restart(persistence: str) -> Nemesis:
    def fault(cluster: Cluster) -> Fault | None:
        if cluster.await_leader(cluster.ttl + 5) is None:
            return None
        start = time.monotonic()
        launch.restart_redis(persistence)
        end = time.monotonic()
        time.sleep(cluster.ttl + 1.0)
        inside = persistence != "off"
        kind = "redis restart " + ("(no persistence)" if not inside else f"(aof {persistence})")
        return Fault(kind, "store:redis", start, end, inside, False, inside)

    fault.__name__ = f"redis_restart_{persistence}"
    return fault


STORE_NEMESES: dict[str, list[Nemesis]] = {
    "redis": [_redis_restart("always"), _redis_restart("off")],
    "etcd": [_member_fault(False, False), _member_fault(True, True)],
    "zookeeper": [_member_fault(False, False), _member_fault(True, True)],
}


def restore(store: str) -> Callable[[], None]:
    """Put the store back into its default state after a run."""
    def undo() -> None:
        if store == "redis":
            launch.restart_redis("everysec")
        else:
            launch.up([store])
    return undo
