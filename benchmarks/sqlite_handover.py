"""Embedded backend: graceful handover and crash failover between separate processes.

python -m benchmarks.sqlite_handover [--rounds 40] [--ttl 2]
Handover = a leader's release() call -> the next process's acquire() returning (CLOCK_BOOTTIME,
shared by all processes). Failover = SIGKILL of the leader -> the next leader, as a ratio to TTL.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import leaselect
from benchmarks.events import handover_gaps
from leaselect.clock import SYSTEM_CLOCK


def worker(url: str, ttl: float, rounds: int, hold: float) -> None:
    elector = leaselect.Elector(url, "bench", ttl=ttl)
    for _ in range(rounds):
        lease = elector.acquire(timeout=60)
        assert lease is not None
        print(
            json.dumps({"e": "elected", "t": SYSTEM_CLOCK.now(), "token": lease.token}), flush=True
        )
        time.sleep(hold)
        print(
            json.dumps({"e": "release", "t": SYSTEM_CLOCK.now(), "token": lease.token}), flush=True
        )
        elector.release()
    elector.close()


def spawn(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "benchmarks.sqlite_handover", "--worker", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def handovers(url: str, ttl: float, rounds: int) -> list[float]:
    procs = [spawn(url, str(ttl), str(rounds), "0.02") for _ in range(3)]
    return handover_gaps(procs, timeout=300)


def failover(url: str, ttl: float) -> float:
    holder = spawn(url, str(ttl), "1", "3600")
    assert holder.stdout is not None
    json.loads(holder.stdout.readline())
    rival = leaselect.Elector(url, "bench", ttl=ttl)
    os.kill(holder.pid, signal.SIGKILL)
    killed = SYSTEM_CLOCK.now()
    holder.wait()
    assert rival.acquire(timeout=ttl * 3) is not None
    elapsed = SYSTEM_CLOCK.now() - killed
    rival.close()
    return elapsed


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=4)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--ttl", type=float, default=2.0)
    parser.add_argument("--crashes", type=int, default=5)
    args = parser.parse_args()
    if args.worker:
        url, ttl, rounds, hold = args.worker
        worker(url, float(ttl), int(rounds), float(hold))
        return
    url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    gaps = handovers(url, args.ttl, args.rounds)
    crash = [failover(url, args.ttl) for _ in range(args.crashes)]
    print(
        f"graceful handover: n={len(gaps)} median={statistics.median(gaps) * 1e3:.2f} ms "
        f"p95={pct(gaps, 0.95) * 1e3:.2f} ms max={max(gaps) * 1e3:.2f} ms"
    )
    ratios = [c / args.ttl for c in crash]
    print(
        f"crash failover (ttl {args.ttl:g}s): n={len(crash)} "
        f"median={statistics.median(crash):.3f}s max={max(crash):.3f}s = {max(ratios):.3f} x ttl"
    )


if __name__ == "__main__":
    main()
