"""Redis with ``maxmemory`` and an evicting policy, under memory pressure.

The token counter is a key like any other: ``allkeys-lru`` may evict it, and a counter that
starts again from nothing hands out tokens below earlier ones. Two phases: with the plain URL
the library either refuses such a server (every contender names the policy and none leads:
recorded as refused) or tokens must still strictly increase; with ``allow_eviction=1`` (the
user accepts eviction) it must run and tokens must strictly increase. A regression here is a
failure, unlike after a restart without persistence, which the docs accept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import redis

from .checker import Report
from .cluster import Cluster
from .nemesis import Fault
from .scenario import merge, run_phase

HEADROOM = 2 * 1024 * 1024  # maxmemory = memory in use + this
JUNK = 64 * 1024  # bytes per filler value


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url.split("?", 1)[0])  # leaselect's own options stripped


def memory_pressure(cluster: Cluster) -> Fault | None:
    """Fill Redis with junk until it has evicted keys (the counter among them, likely)."""
    leader = cluster.await_leader(cluster.ttl + 5)
    if leader is None:
        return None
    client = _client(cluster.url)
    start = time.monotonic()
    before = int(client.info("stats")["evicted_keys"])
    for i in range(400):
        client.set(f"junk:{start}:{i}", b"x" * JUNK)
        if int(client.info("stats")["evicted_keys"]) > before + 50:
            break
    end = time.monotonic()
    time.sleep(cluster.ttl + 1.0)
    return Fault("redis eviction (allkeys-lru)", "store:redis", start, end, False, False, False)


def run_eviction(url: str, ttl: float, run_dir: Path, log: Callable[[str], None] = print) -> Report:
    """Both phases on an evicting Redis; the server's settings are restored afterwards."""
    refused = _evicting(url, ttl, run_dir / "plain", log)
    opted_in = url + ("&" if "?" in url else "?") + "allow_eviction=1"
    accepted = _evicting(opted_in, ttl, run_dir / "allow_eviction", log)
    accepted.stalled += [f"allow_eviction=1 refused too: {r}" for r in accepted.refused]
    accepted.refused = []
    return merge(refused, accepted)


def _evicting(url: str, ttl: float, run_dir: Path, log: Callable[[str], None]) -> Report:
    """One phase on an evicting Redis."""
    client = _client(url)
    saved = {k: str(client.config_get(k)[k]) for k in ("maxmemory", "maxmemory-policy")}
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory", str(used + HEADROOM))
    try:
        try:
            report = run_phase("redis", url, ttl, run_dir, [memory_pressure] * 2, log=log)
        except RuntimeError:
            report = Report("redis")
            reasons = [p.read_text(errors="replace") for p in run_dir.glob("*.stderr")]
            if reasons and all("maxmemory-policy" in r for r in reasons):
                report.refused.append("allkeys-lru: every contender refused it, naming the policy")
                return report
            raise
    finally:
        client.config_set("maxmemory", saved["maxmemory"])
        client.config_set("maxmemory-policy", saved["maxmemory-policy"])
        for key in client.scan_iter("junk:*", count=1000):
            client.delete(key)
    report.strict_regressions = list(report.token_regressions)
    report.token_regressions = []
    return report
