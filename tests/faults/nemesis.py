"""Faults: each injects one fault into a running cluster and returns what it did and when."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from .cluster import Cluster, Contender

SHORT = 0.5  # seconds: shorter than TTL - margin - renew interval for TTL 2 s


@dataclass
class Fault:
    """One injected fault on the monotonic timeline."""

    kind: str
    target: str  # a contender identity, or "store:<member>"
    start: float
    end: float
    inside: bool  # inside the safety assumptions (overlaps there are failures)
    failover: bool  # the target leader is expected to be replaced within TTL + 1 s
    stable: bool  # no step-down expected


Nemesis = Callable[[Cluster], Fault | None]


def _leader(cluster: Cluster) -> Contender | None:
    return cluster.await_leader(cluster.ttl + 5)


def _wait_stopped(pid: int, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.005)


def kill_leader(cluster: Cluster) -> Fault | None:
    """kill -9 the leader, then start a fresh contender in its place."""
    leader = _leader(cluster)
    if leader is None:
        return None
    died = cluster.kill(leader)
    cluster.spawn()
    time.sleep(cluster.ttl + 1.5)
    return Fault("kill -9 leader", leader.identity, died, died, True, True, False)


def pause_long(cluster: Cluster) -> Fault | None:
    """The GC pause: the leader stops itself between its is_leader check and its write."""
    leader = _leader(cluster)
    if leader is None:
        return None
    os.kill(leader.pid, signal.SIGUSR1)
    _wait_stopped(leader.pid)
    start = time.monotonic()
    time.sleep(cluster.ttl + 1.0)
    os.kill(leader.pid, signal.SIGCONT)
    end = time.monotonic()
    time.sleep(1.0)
    return Fault("SIGSTOP > TTL", leader.identity, start, end, False, True, False)


def pause_short(cluster: Cluster) -> Fault | None:
    """SIGSTOP the leader for less than TTL - margin: it must keep leading."""
    leader = _leader(cluster)
    if leader is None:
        return None
    start = time.monotonic()
    os.kill(leader.pid, signal.SIGSTOP)
    time.sleep(SHORT)
    os.kill(leader.pid, signal.SIGCONT)
    end = time.monotonic()
    time.sleep(cluster.ttl)  # a step-down caused by the pause would come by now
    return Fault("SIGSTOP < TTL", leader.identity, start, end, True, False, True)


def _cut(cluster: Cluster, seconds: float, kind: str, long: bool) -> Fault | None:
    leader = _leader(cluster)
    if leader is None:
        return None
    start = time.monotonic()
    leader.cut()
    time.sleep(seconds)
    leader.heal()
    end = time.monotonic()
    time.sleep(1.5 if long else cluster.ttl)
    return Fault(kind, leader.identity, start, end, True, long, not long)


def cut_long(cluster: Cluster) -> Fault | None:
    """Black-hole the leader's store connections for TTL + 1 s."""
    return _cut(cluster, cluster.ttl + 1.0, "cut > TTL", True)


def cut_short(cluster: Cluster) -> Fault | None:
    """Black-hole the leader's store connections for 0.5 s."""
    return _cut(cluster, SHORT, "cut < TTL", False)


def blocking_lost(cluster: Cluster) -> Fault | None:
    """The leader loses its tenure while its on_lost handler hangs (cluster run with it).

    Networked stores: cut it off for TTL + 1 s; embedded store: it releases (SIGUSR2).
    """
    if cluster.networked:
        fault = cut_long(cluster)
        if fault is not None:
            fault.kind = "blocking on_lost"
        return fault
    leader = _leader(cluster)
    if leader is None:
        return None
    start = time.monotonic()
    os.kill(leader.pid, signal.SIGUSR2)
    time.sleep(cluster.ttl + 1.0)
    return Fault("blocking on_lost", leader.identity, start, start, True, True, False)


def slow_store(cluster: Cluster) -> Fault | None:
    """Every packet between the leader and its store delayed by 0.3 x TTL, for 2 x TTL."""
    leader = _leader(cluster)
    if leader is None:
        return None
    start = time.monotonic()
    leader.slow(0.3 * cluster.ttl)
    time.sleep(2 * cluster.ttl)
    leader.slow(0.0)
    end = time.monotonic()
    time.sleep(cluster.ttl)
    return Fault("slow store 0.3 x TTL", leader.identity, start, end, True, False, False)


def db_file_replaced(cluster: Cluster) -> Fault | None:
    """Embedded store: the database file replaced by an empty one while a leader runs."""
    leader = _leader(cluster)
    if leader is None:
        return None
    path = cluster.url.split("://", 1)[1].split("?", 1)[0]
    path = path[1:] if path.startswith("//") else path
    fresh = f"{path}.fresh"
    sqlite3.connect(fresh).close()
    os.chmod(fresh, 0o600)  # private, as leaselect creates it (else it refuses the file)
    start = time.monotonic()
    os.replace(fresh, path)
    cluster.spawn()  # a process that opens the database now sees the new file
    time.sleep(cluster.ttl + 1.5)
    return Fault("db file replaced", "store:sqlite", start, start, False, False, False)
