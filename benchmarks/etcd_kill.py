"""etcd crash failover: a waiter that proves the lease expiry itself vs etcd's lessor alone.

python -m benchmarks.etcd_kill [N] [--ttl 3]
(run it under ``flock /tmp/leaselect-bench.lock``; about 8 s per kill.)
Each round kills (SIGKILL) a leader process at a random point of its keep-alive cycle, once
with the waiter's expiry probe on and once with it off, alternating on the same cluster; the
failover is the kill -> the waiter's ``acquire`` returning, on CLOCK_BOOTTIME. "proof took the
key" counts the kills where the waiter deleted the key itself before etcd's lessor revoked it.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics

from leaselect.backends.etcd import expiry
from tests.support.contenders import kill_9_failover
from tests.support.stores import STORES, configured_url


class _ProofCounter(logging.Handler):
    """Counts the waiter's "deleted its key" log lines (leaselect/backends/etcd/predecessor.py)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "deleted its key" in record.getMessage()


def failover(url: str, ttl: float, probing: bool) -> float:
    """Seconds from a leader's kill -9 to the waiter's election."""
    expiry.MIN_GRANTED = 3 if probing else 1 << 30
    name = f"bench-kill-{os.urandom(5).hex()}"
    return kill_9_failover(url, name, ttl, random.uniform(0, ttl / 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rounds", type=int, nargs="?", default=12)
    parser.add_argument("--url", default=configured_url(STORES["etcd"]))
    parser.add_argument("--ttl", type=float, default=3.0)
    args = parser.parse_args()
    if not args.url:
        raise SystemExit("no etcd: python3 backends/launch.py up etcd (or --url)")
    counter = _ProofCounter()
    logging.getLogger("leaselect").addHandler(counter)
    logging.getLogger("leaselect").setLevel(logging.INFO)
    results: dict[bool, list[float]] = {True: [], False: []}
    proofs = {True: 0, False: 0}
    for _ in range(args.rounds):
        for probing in (True, False):
            before = counter.count
            results[probing].append(failover(args.url, args.ttl, probing))
            proofs[probing] += counter.count > before
    print(f"etcd {args.url}; ttl {args.ttl:g}s; {args.rounds} kills each")
    print("| waiter | min | median | p95 | max | proof took the key |")
    print("|---|---|---|---|---|---|")
    for probing, values in results.items():
        values.sort()
        label = "proves the expiry" if probing else "etcd's lessor only"
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(
            f"| {label} | {values[0]:.3f} s | {statistics.median(values):.3f} s"
            f" | {p95:.3f} s | {values[-1]:.3f} s | {proofs[probing]}/{len(values)} |"
        )


if __name__ == "__main__":
    main()
