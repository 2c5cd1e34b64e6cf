"""Handover and crash failover on ZooKeeper: leaselect vs kazoo's own Election and Lock recipes.

python -m benchmarks.zookeeper_handover [--url zk://...] [--blocks 5] [--rounds 12] [--crashes 7]

Same ensemble, one run, every contender a separate process, 3 s session timeout for all.
Handover: two processes alternate (a new pair per block, blocks interleaved by recipe, so pairs
land on different servers); the time from "releasing" in one to "elected" in the other.
Crash failover: a waiter's "elected" after the holder is killed with SIGKILL, as a ratio to the
session timeout. Servers expire sessions in tickTime buckets, so the kills are spread evenly over
a second (several ticks of backends/zookeeper), the same offsets for every recipe. Times are
CLOCK_BOOTTIME, shared by every process of the host.
Run it under ``flock /tmp/leaselect-bench.lock`` when other timing-sensitive jobs share the host.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks.events import add_pause_option
from leaselect.urls import parse
from tests.support.stores import STORES, configured_url

# leaselect: elected = acquire() returning; leaselect-callbacks: elected = on_elected running
KINDS = ("leaselect", "leaselect-callbacks", "kazoo-election", "kazoo-lock")
SESSION = 3.0
HOLD = 0.05
PAUSE_ENV = "LEASELECT_BENCH_PAUSE"  # "low,high": a leader holds a random time in between
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def now() -> float:
    """CLOCK_BOOTTIME in seconds (the clock leaselect uses)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def emit(event: str) -> None:
    print(json.dumps({"e": event, "t": now()}), flush=True)


# -- worker side ------------------------------------------------------------------------------


def leaselect_turns(url: str, name: str) -> Iterator[Callable[[Callable[[], None]], None]]:
    import leaselect

    elector = leaselect.Elector(url, name, ttl=SESSION)

    def turn(body: Callable[[], None]) -> None:
        assert elector.acquire() is not None
        body()
        elector.release()

    while True:
        yield turn


def leaselect_callback_rounds(url: str, name: str, rounds: int) -> None:
    """A callback user: ``on_elected`` reports, the main thread holds, releases, starts again."""
    import threading

    import leaselect

    elected = threading.Event()

    def on_elected(lease: leaselect.Lease) -> None:
        emit("elected")
        elected.set()

    elector = leaselect.Elector(url, name, ttl=SESSION, on_elected=on_elected)
    emit("ready")
    elector.start()
    for _ in range(rounds):
        elected.wait()
        elected.clear()
        time.sleep(hold(rounds))
        emit("releasing")
        elector.release()
        elector.start()


def hold(rounds: int) -> float:
    low, high = map(float, os.environ.get(PAUSE_ENV, f"{HOLD},{HOLD}").split(","))
    return random.uniform(low, high) if rounds > 1 else 3600


def kazoo_turns(url: str, name: str, recipe: str) -> Iterator[Callable[[Callable[[], None]], None]]:
    from kazoo.client import KazooClient

    hosts = ",".join(f"{h}:{p}" for h, p in parse(url).host_list(2181))
    client = KazooClient(hosts=hosts, timeout=SESSION)
    client.start()
    path, me = f"/bench/{name}", uuid.uuid4().hex
    election, lock = client.Election(path, me), client.Lock(path, me)

    def turn(body: Callable[[], None]) -> None:
        if recipe == "election":
            election.run(body)
        else:
            with lock:
                body()

    while True:
        yield turn


def worker(kind: str, url: str, name: str, rounds: int) -> None:
    if kind == "leaselect-callbacks":
        return leaselect_callback_rounds(url, name, rounds)
    if kind == "leaselect":
        turns = leaselect_turns(url, name)
    else:
        turns = kazoo_turns(url, name, kind.removeprefix("kazoo-"))
    emit("ready")
    for _ in range(rounds):

        def body() -> None:
            emit("elected")
            time.sleep(hold(rounds))
            emit("releasing")

        next(turns)(body)


# -- driver side ------------------------------------------------------------------------------


def spawn(kind: str, url: str, name: str, rounds: int) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "benchmarks.zookeeper_handover", "--worker", kind, url, name]
    return subprocess.Popen([*argv, str(rounds)], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def events(proc: subprocess.Popen[str]) -> Iterator[dict[str, Any]]:
    assert proc.stdout is not None
    for line in proc.stdout:
        yield json.loads(line)


def wait_for(proc: subprocess.Popen[str], event: str) -> float:
    for record in events(proc):
        if record["e"] == event:
            return float(record["t"])
    raise RuntimeError(f"worker exited ({proc.wait()}) before {event!r}")


def handovers(kind: str, url: str, rounds: int) -> list[float]:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    procs = [spawn(kind, url, name, rounds) for _ in range(2)]
    log: list[tuple[float, str]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        log += [(r["t"], r["e"]) for r in map(json.loads, out.splitlines())]
    log.sort()
    timeline = [(t, e) for t, e in log if e in ("elected", "releasing")]
    return [
        b[0] - a[0]
        for a, b in itertools.pairwise(timeline)
        if a[1] == "releasing" and b[1] == "elected"
    ]


def crash(kind: str, url: str, delay: float) -> float:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    holder = spawn(kind, url, name, 1)
    waiter = None
    try:
        wait_for(holder, "elected")
        waiter = spawn(kind, url, name, 1)
        wait_for(waiter, "ready")
        time.sleep(0.7 + delay)  # let it queue up behind the holder
        killed = now()
        holder.send_signal(signal.SIGKILL)
        return (wait_for(waiter, "elected") - killed) / SESSION
    finally:
        for proc in (holder, waiter):
            if proc is not None:
                proc.kill()
                proc.wait()


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "URL", "NAME", "ROUNDS"))
    parser.add_argument("--url", default=configured_url(STORES["zookeeper"]))
    parser.add_argument("--blocks", type=int, default=5, help="process pairs per recipe")
    parser.add_argument("--rounds", type=int, default=12, help="turns per process and pair")
    parser.add_argument("--crashes", type=int, default=7, help="kill -9 trials per recipe")
    add_pause_option(parser, HOLD)
    args = parser.parse_args()
    if args.worker:
        kind, url, name, rounds = args.worker
        return worker(kind, url, name, int(rounds))
    if not args.url:
        parser.error("no store: pass --url or run python3 backends/launch.py up zookeeper")
    os.environ[PAUSE_ENV] = ",".join(map(str, args.pause))  # the workers read it
    print(f"ZooKeeper {parse(args.url).redacted}, session timeout {SESSION:g}s, separate processes")
    print(f"{args.blocks} x {2 * args.rounds - 1} handovers and {args.crashes} crashes per recipe")
    print("| recipe | handover median | handover p95 | crash failover median | crash p95 |")
    print("|---|---|---|---|---|")
    hand: dict[str, list[float]] = {kind: [] for kind in KINDS}
    fail: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(args.blocks):  # interleaved; each pair of processes lands on random servers
        for kind in KINDS:
            hand[kind] += handovers(kind, args.url, args.rounds)
    # each trial starts right after the previous one's expiry tick: without spread offsets the
    # kills lock onto one phase of the tick, which alone then decides the failover time
    delays = [(i + random.random()) / args.crashes for i in range(args.crashes)]
    random.shuffle(delays)
    for delay in delays:
        for kind in KINDS:
            fail[kind].append(crash(kind, args.url, delay))
    for kind in KINDS:
        crashes = (
            f"{statistics.median(fail[kind]):.2f} x | {p95(fail[kind]):.2f} x"
            if fail[kind]
            else "- | -"
        )
        print(
            f"| {kind} | {statistics.median(hand[kind]) * 1000:.1f} ms "
            f"| {p95(hand[kind]) * 1000:.1f} ms | {crashes} |"
        )
    for kind in KINDS:  # the raw distributions, to compare beyond two quantiles
        ratios = " ".join(f"{ratio:.3f}" for ratio in sorted(fail[kind]))
        print(f"{kind}: handover max {max(hand[kind]) * 1000:.1f} ms, crash x sorted: {ratios}")


if __name__ == "__main__":
    main()
