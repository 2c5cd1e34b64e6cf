"""Many elections in one process on one backend: start-up, threads, idle cost, losses, close.

python -m benchmarks.scale --store redis [--count 1000] [--ttl 3] [--idle 30] [--waiters 0]
    [--close backend|each] [--metrics]
(under ``flock -o /tmp/leaselect-bench.lock`` on a shared machine). One ``connect()`` backend,
``count`` electors of distinct elections started at once with callbacks (``start()``), plus
``waiters`` electors queued behind one more leader. Reports: seconds until every election
leads, threads (leaselect's and all), CPU used per second of wall time while idle, losses
while idle, seconds to close everything (``backend.close()``, which ends every tenure on it, or
with ``--close each`` every ``Elector.close()`` one after the other, then the backend), threads
and descriptors left after the close. ``--metrics``: with ``leaselect.metrics.prometheus``
instrumented (its own registry), scraped every ``--scrape-every`` seconds (15) while idle; the
row adds the median scrape time.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Callable

import leaselect
from leaselect import Lease, LostReason
from tests.support.stores import STORES, configured_url


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def threads() -> tuple[int, int]:
    """(leaselect's threads, all threads) of this process."""
    names = [t.name for t in threading.enumerate()]
    return sum(1 for n in names if n.startswith("leaselect-")), len(names)


def start_metrics() -> tuple[Callable[[], float], Callable[[], None]]:
    """Instrument a registry of its own: a scrape that answers how long it took, and a close."""
    from prometheus_client import CollectorRegistry, generate_latest

    from leaselect.metrics.prometheus import instrument

    registry = CollectorRegistry()
    metrics = instrument(registry)

    def scrape() -> float:
        began = time.monotonic()
        generate_latest(registry)
        return time.monotonic() - began

    return scrape, metrics.close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=sorted(STORES), required=True)
    parser.add_argument("--url", help="the store URL (default: the test servers')")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--waiters", type=int, default=0)
    parser.add_argument("--close", choices=["backend", "each"], default="backend")
    parser.add_argument("--deadline", type=float, default=120.0, help="give up start-up after")
    parser.add_argument("--metrics", action="store_true", help="with Prometheus metrics on")
    parser.add_argument("--scrape-every", type=float, default=15.0, help="with --metrics")
    args = parser.parse_args()
    url = args.url or (
        f"sqlite:////tmp/leaselect-scale-{os.getpid()}.db"
        if args.store == "sqlite"
        else configured_url(STORES[args.store])
    )
    if url is None:
        raise SystemExit(f"no {args.store} server: python3 backends/launch.py up {args.store}")
    fds_before, tag = descriptors(), uuid.uuid4().hex[:6]
    lost: list[LostReason] = []
    elected = threading.Semaphore(0)

    def on_elected(lease: Lease) -> None:
        elected.release()

    def on_lost(lease: Lease, reason: LostReason) -> None:
        lost.append(reason)

    scrape, stop_metrics = start_metrics() if args.metrics else (None, None)
    backend = leaselect.connect(url)
    electors = [
        leaselect.Elector(
            backend, f"scale-{tag}-{i}", ttl=args.ttl, on_elected=on_elected, on_lost=on_lost
        )
        for i in range(args.count)
    ]
    queue = [
        leaselect.Elector(backend, f"scale-{tag}-queue", ttl=args.ttl, identity=f"q{i}")
        for i in range(args.waiters + 1 if args.waiters else 0)
    ]
    started = time.monotonic()
    for elector in electors + queue:
        elector.start()
    led = 0
    while led < args.count and time.monotonic() - started < args.deadline:
        if elected.acquire(timeout=0.5):
            led += 1
    all_leading = time.monotonic() - started
    time.sleep(1.0)
    own, total = threads()
    cpu, wall, losses = cpu_seconds(), time.monotonic(), len(lost)
    scrapes: list[float] = []
    step = args.scrape_every if scrape is not None else args.idle
    while time.monotonic() - wall < args.idle:
        time.sleep(min(step, max(0.0, args.idle - (time.monotonic() - wall))))
        if scrape is not None:
            scrapes.append(scrape())
    cpu_share = (cpu_seconds() - cpu) / (time.monotonic() - wall)
    idle_losses = len(lost) - losses
    leading = sum(e.is_leader for e in electors)
    closing = time.monotonic()
    if args.close == "each":
        for elector in electors + queue:
            elector.close()
    backend.close()
    closed = time.monotonic() - closing
    if stop_metrics is not None:
        stop_metrics()
    time.sleep(0.5)
    own_left, _ = threads()
    if args.store == "sqlite" and not args.url:  # the throwaway file and its companions
        for path in glob.glob(url.removeprefix("sqlite://") + "*"):
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    print(f"{args.store} count={args.count} ttl={args.ttl} idle={args.idle}s close={args.close}")
    if scrapes:
        median = 1000 * statistics.median(scrapes)
        print(f"metrics on: {len(scrapes)} scrapes, median {median:.1f} ms each")
    print(
        "| store | N | waiters | all leading (s) | threads leaselect / all "
        "| idle CPU (% of a core) | losses while idle | leading at the end | close (s) "
        "| leaselect threads left | descriptors left |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.store} | {args.count} | {args.waiters} | "
        f"{all_leading:.2f}{'' if led == args.count else f' ({led} led)'} | {own} / {total} | "
        f"{100 * cpu_share:.1f} | {idle_losses} | {leading} | {closed:.2f} | {own_left} | "
        f"{descriptors() - fds_before} |"
    )


if __name__ == "__main__":
    main()
