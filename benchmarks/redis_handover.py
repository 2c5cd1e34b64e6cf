"""leaselect's Redis backend against python-redis-lock, same Redis, one run, separate processes.

python -m benchmarks.redis_handover [--rounds 40] [--blocks 4] [--ttl 3] [--crash-ttl 1]
    [--crashes 5] [--metrics]
(run it under ``flock /tmp/leaselect-bench.lock`` on a shared machine; about a minute.)
Handover = the leader's release() call -> the next process's elected callback (leaselect) or
acquire() returning (redis_lock), on CLOCK_BOOTTIME. Failover = SIGKILL of the leader -> the
next leader, as a ratio to the TTL. ``--metrics`` adds leaselect (``on_elected``) with Prometheus
metrics instrumented, interleaved with the others. Commands = INFO commandstats of one release
with 50 waiters.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import redis

from benchmarks.events import add_pause_option, handover_gaps, hold_spec, next_event
from leaselect.backends.redis import RedisBackend, RedisCandidacy
from leaselect.registry import connect
from tests.support.stores import STORES, configured_url

LIBS = ("leaselect", "leaselect-acquire", "redis_lock")  # leaselect: on_elected
Event = dict[str, Any]


def spawn(lib: str, url: str, name: str, ttl: float, *mode: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "benchmarks.redis_worker", lib, url, name, str(ttl), *mode]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def handovers(lib: str, url: str, ttl: float, rounds: int, hold: str = "0.05") -> list[float]:
    name = f"bench-{lib}-{uuid.uuid4().hex[:8]}"
    procs = [spawn(lib, url, name, ttl, "rounds", str(rounds), hold, "0.01") for _ in range(2)]
    return handover_gaps(procs)


def failover(lib: str, url: str, ttl: float) -> float:
    name = f"bench-{lib}-{uuid.uuid4().hex[:8]}"
    holder = spawn(lib, url, name, ttl, "hold")
    next_event(holder, "elected")
    rival = spawn(lib, url, name, ttl, "once")
    next_event(rival, "ready")
    time.sleep(0.3)  # the rival is registered and blocked
    os.kill(holder.pid, signal.SIGKILL)
    killed = time.clock_gettime(time.CLOCK_BOOTTIME)
    holder.wait()
    elected = next_event(rival, "elected")["t"]
    rival.wait(10)
    return float(elected - killed)


def renew_round_trip(lib: str, url: str, count: int = 300) -> float:
    """Median seconds of one renewal of one held lease."""
    name = f"bench-renew-{uuid.uuid4().hex[:8]}"
    samples = []
    if lib.startswith("leaselect"):
        backend = connect(url)
        assert isinstance(backend, RedisBackend)
        session = backend.session(30.0)
        candidacy = session.candidacy(name, "bench", "")
        assert isinstance(candidacy, RedisCandidacy)
        candidacy.campaign(0.0)
        for _ in range(count):
            start = time.perf_counter()
            session.keep_alive([candidacy], 0.0)
            samples.append(time.perf_counter() - start)
        candidacy.resign()
        backend.close()
    else:
        import redis_lock

        lock = redis_lock.Lock(redis.Redis.from_url(url), name, expire=30)
        lock.acquire()
        for _ in range(count):
            start = time.perf_counter()
            lock.extend(30)
            samples.append(time.perf_counter() - start)
        lock.release()
    return statistics.median(samples)


def commands(lib: str, url: str, waiters: int) -> dict[str, int]:
    """Redis commands (including those run inside scripts) that one release costs."""
    name = f"bench-cmd-{uuid.uuid4().hex[:8]}"
    proc = spawn(lib, url, name, 30.0, "commands", str(waiters))
    assert proc.stdin is not None
    next_event(proc, "ready")
    time.sleep(1.0 + waiters * 0.02)  # every waiter registered and blocked
    client = redis.Redis.from_url(url)
    client.config_resetstat()
    proc.stdin.write("\n")
    proc.stdin.flush()
    next_event(proc, "elected")
    time.sleep(0.2)  # anything the handover still causes
    stats = client.info("commandstats")
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(10)
    return {
        key.removeprefix("cmdstat_"): int(value["calls"])
        for key, value in stats.items()
        if key not in ("cmdstat_config|resetstat", "cmdstat_info")
    }


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=configured_url(STORES["redis"]))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--crash-ttl", type=float, default=1.0)
    parser.add_argument("--crashes", type=int, default=5)
    parser.add_argument("--waiters", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=4, help="interleaved blocks of rounds")
    parser.add_argument("--metrics", action="store_true", help="add leaselect with metrics on")
    parser.add_argument("--only", nargs="+", metavar="LIB", help="these libraries only")
    add_pause_option(parser)
    args = parser.parse_args()
    libs: tuple[str, ...] = (*LIBS, "leaselect-metrics") if args.metrics else LIBS
    libs = tuple(lib for lib in libs if not args.only or lib in args.only)
    if not args.url:
        raise SystemExit("no Redis: python3 backends/launch.py up redis (or --url)")
    print(f"redis {args.url}; handover ttl {args.ttl:g}s, 2 processes x {args.rounds} rounds")
    print(
        "| library | handover median | handover p95 | crash failover median / max (x TTL)"
        " | renew round trip |"
    )
    print("|---|---|---|---|---|")
    gaps_of: dict[str, list[float]] = {lib: [] for lib in libs}
    for block in range(args.blocks):  # interleaved, so a change of load hits every library
        rounds = args.rounds // args.blocks + (block < args.rounds % args.blocks)
        for lib in libs:
            gaps_of[lib] += handovers(lib, args.url, args.ttl, rounds, hold_spec(args.pause))
    for lib in libs:
        gaps = gaps_of[lib]
        crash = [
            failover(lib, args.url, args.crash_ttl) / args.crash_ttl for _ in range(args.crashes)
        ]
        renew = renew_round_trip(lib, args.url)
        print(
            f"| {lib} | {statistics.median(gaps) * 1e3:.2f} ms | {pct(gaps, 0.95) * 1e3:.2f} ms"
            f" (n={len(gaps)}) | {statistics.median(crash):.3f} / {max(crash):.3f}"
            f" (ttl {args.crash_ttl:g}s, n={len(crash)}) | {renew * 1e3:.3f} ms |",
            flush=True,
        )
    for lib in ("leaselect", "redis_lock"):
        if lib not in libs:
            continue
        stats = commands(lib, args.url, args.waiters)
        detail = ", ".join(f"{k} {v}" for k, v in sorted(stats.items()))
        print(
            f"{lib}: one handover with {args.waiters} waiters = {sum(stats.values())} "
            f"commands ({detail})"
        )


if __name__ == "__main__":
    main()
