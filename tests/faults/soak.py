"""The long run: ``python -m tests.faults.soak --minutes N --stores sqlite redis etcd zookeeper``.

Repeats every applicable fault of each store until its share of the time is used up, then
prints the summary table and writes it (with all logs) under ``--dir``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.support.stores import STORES, configured_url

from . import netns
from .checker import Report
from .scenario import plan, run_store
from .summary import table

SECONDS_PER_FAULT = 5.0  # rough cost of one fault with TTL 2 s, for sizing the rounds


def rounds_for(store: str, minutes: float, stores: int, ttl: float) -> int:
    """How many rounds of the store's fault plan fit in its share of ``minutes``."""
    faults = len(plan(store)[0]) + 1
    per_round = faults * max(SECONDS_PER_FAULT, ttl + 3.0)
    return max(1, int(minutes * 60 / stores / per_round))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--stores", nargs="+", default=list(STORES))
    parser.add_argument("--ttl", type=float, default=2.0)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    run_dir = args.dir or Path(tempfile.mkdtemp(prefix="leaselect-soak-"))
    reports: list[Report] = []
    started = time.monotonic()
    net = netns.Net() if netns.available() is None else None
    try:
        return _run(args, run_dir, reports, started, net)
    finally:
        if net is not None:
            net.close()


def _run(
    args: argparse.Namespace,
    run_dir: Path,
    reports: list[Report],
    started: float,
    net: netns.Net | None,
) -> int:
    for store in args.stores:
        url = (
            f"sqlite:///{run_dir}/{store}.db"
            if store == "sqlite"
            else configured_url(STORES[store])
        )
        if not url:
            print(f"{store}: no URL (run backends/launch.py up)", file=sys.stderr)
            return 2
        rounds = rounds_for(store, args.minutes, len(args.stores), args.ttl)
        print(f"{store}: {rounds} rounds", flush=True)
        reports.append(run_store(store, url, args.ttl, rounds, run_dir / store, net=net))
    text = table(reports)
    (run_dir / "summary.md").write_text(text + "\n")
    print(text)
    print(f"\n{(time.monotonic() - started) / 60:.1f} min; logs in {run_dir}")
    failed = any(r.failures(strict_tokens=True) for r in reports)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
