"""Where a handover's time goes: stamps along the path, release call -> next leader elected.

python -m benchmarks.handover_trace STORE LIB [--rounds 25] [--url URL]
  STORE: redis | zookeeper.
  LIB: leaselect (acquire() returning) | leaselect-callbacks (on_elected running) |
       peer (python-redis-lock / kazoo Lock) | floor (the store's notification alone: Redis
       LPUSH -> BLPOP returning, ZooKeeper delete -> the exists watch firing).

Two processes take turns (hold 0.3-0.6 s, release, queue again after 50 ms). Each wraps a few
methods on the path with stamps (CLOCK_BOOTTIME, shared by the host's processes); the table
gives each step's median time after the ``release`` stamp, L: in the releasing process, W: in
the next leader. A stamp costs a few microseconds, so totals run a little above the handover
benchmarks'. The wrapped names are internals: this is a profiling aid, not a benchmark.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from leaselect.urls import parse
from tests.support.stores import STORES, configured_url

Stamp = tuple[str, float, str]
STAMPS: list[Stamp] = []

# (module, class, method, label) wrapped in each process, per store and library
HOOKS: dict[tuple[str, str], list[tuple[str, str, str, str]]] = {
    ("redis", "leaselect"): [
        ("leaselect.elector", "Elector", "_unwatch", "unwatch"),
        ("leaselect.elector", "Elector", "_apply", "apply"),
        ("leaselect.backends.redis", "RedisCandidacy", "resign", "resign"),
        ("leaselect.backends.redis.wakes", "Wakes", "_pop", "pop"),
        ("leaselect.backends.redis", "RedisCandidacy", "_delivered", "delivered"),
        ("leaselect.elector", "Elector", "_resume_parked", "resume"),
        ("leaselect.backends.redis", "RedisCandidacy", "campaign", "campaign"),
    ],
    ("redis", "peer"): [("redis", "Redis", "blpop", "blpop")],
    ("zookeeper", "leaselect"): [
        ("leaselect.elector", "Elector", "_unwatch", "unwatch"),
        ("leaselect.elector", "Elector", "_apply", "apply"),
        ("leaselect.backends.zookeeper", "ZooKeeperCandidacy", "resign", "resign"),
        ("kazoo.client", "KazooClient", "delete_async", "delete_async"),
        ("leaselect.backends.zookeeper", "ZooKeeperCandidacy", "_on_event", "event"),
        ("kazoo.client", "KazooClient", "exists_async", "exists_async"),
        ("leaselect.elector", "Elector", "_resume_parked", "resume"),
        ("leaselect.backends.zookeeper", "ZooKeeperCandidacy", "campaign", "campaign"),
    ],
    ("zookeeper", "peer"): [
        ("kazoo.recipe.lock", "Lock", "_watch_predecessor", "event"),
        ("kazoo.client", "KazooClient", "get_children", "get_children"),
        ("kazoo.client", "KazooClient", "delete", "delete"),
    ],
}


def kazoo_hosts(url: str) -> str:
    return ",".join(f"{host}:{port}" for host, port in parse(url).host_list(2181))


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def stamp(label: str) -> None:
    STAMPS.append((label, now(), threading.current_thread().name))


def wrap(module: str, cls: str, method: str, label: str) -> None:
    owner = getattr(importlib.import_module(module), cls)
    original: Callable[..., Any] = getattr(owner, method)

    @functools.wraps(original)
    def stamped(*args: Any, **kwargs: Any) -> Any:
        stamp(label + ">")
        try:
            return original(*args, **kwargs)
        finally:
            stamp(label + "<")

    setattr(owner, method, stamped)


class Turns:
    """acquire / release of one contender, as its library's users call them."""

    def __init__(self, store: str, lib: str, url: str, name: str) -> None:
        self.acquire: Callable[[], object]
        self.release: Callable[[], object]
        self.close: Callable[[], None] = lambda: None
        if lib.startswith("leaselect"):
            self._leaselect(url, name, callbacks=lib == "leaselect-callbacks")
        elif store == "redis":
            import redis
            import redis_lock

            lock = redis_lock.Lock(redis.Redis.from_url(url), name, expire=3)
            self.acquire, self.release = lock.acquire, lock.release
        else:
            from kazoo.client import KazooClient

            client = KazooClient(hosts=kazoo_hosts(url), timeout=3.0)
            client.start()
            zlock = client.Lock("/handover-trace/" + name)
            self.acquire, self.release = zlock.acquire, zlock.release
            self.close = client.stop

    def _leaselect(self, url: str, name: str, callbacks: bool) -> None:
        import leaselect

        elected = threading.Event()

        def on_elected(lease: leaselect.Lease) -> None:
            stamp("elected")
            elected.set()

        callback = on_elected if callbacks else None
        elector = leaselect.Elector(url, name, ttl=3.0, on_elected=callback)

        def acquire() -> None:
            if callbacks:
                elector.start()
                elected.wait()
                elected.clear()
            else:
                assert elector.acquire() is not None

        self.acquire, self.release, self.close = acquire, elector.release, elector.close


def worker(store: str, lib: str, url: str, name: str, rounds: int) -> None:
    for hook in HOOKS.get((store, lib.replace("-callbacks", "")), []):
        wrap(*hook)
    turns = Turns(store, lib, url, name)
    for _ in range(rounds):
        turns.acquire()
        if not lib.endswith("callbacks"):
            stamp("elected")
        time.sleep(random.uniform(0.3, 0.6))
        stamp("release")
        turns.release()
        time.sleep(0.05)
    turns.close()
    print(json.dumps(STAMPS))


def floor_worker(store: str, url: str, name: str, rounds: int, waiter: bool) -> None:
    """The notification alone: one process signals (``release``), the other sees it."""
    if store == "redis":
        import redis

        client = redis.Redis.from_url(url)
        for _ in range(rounds):
            if waiter:
                client.blpop([name], 0)
                stamp("elected")
            else:
                time.sleep(random.uniform(0.3, 0.6))
                stamp("release")
                client.lpush(name, b"x")
    else:
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=kazoo_hosts(url), timeout=3.0)
        zk.start()
        path = "/handover-trace/" + name
        for _ in range(rounds):
            if waiter:
                fired = threading.Event()

                def deleted(event: object, fired: threading.Event = fired) -> None:
                    stamp("elected")
                    fired.set()

                while zk.exists(path, watch=deleted) is None:  # not created yet: the next turn
                    time.sleep(0.01)
                fired.wait()
            else:
                zk.create(path, makepath=True)
                time.sleep(random.uniform(0.3, 0.6))
                stamp("release")
                zk.delete(path)
        zk.stop()
    print(json.dumps(STAMPS))


def analyse(outputs: list[list[Stamp]]) -> None:
    events = sorted(
        (t, proc, label, thread) for proc, out in enumerate(outputs) for label, t, thread in out
    )
    steps: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    for k, (t0, proc, label, _) in enumerate(events):
        if label != "release":
            continue
        seen: set[str] = set()
        for t, other, step, _thread in events[k:]:
            key = ("L:" if other == proc else "W:") + step
            if key not in seen:
                seen.add(key)
                steps[key].append((t - t0) * 1000)
            if step == "elected" and other != proc:
                totals.append((t - t0) * 1000)
                break
    print(f"{len(totals)} handovers, median {statistics.median(totals):.3f} ms")
    for key, values in sorted(steps.items(), key=lambda kv: statistics.median(kv[1])):
        print(f"  {key:22s} {statistics.median(values):7.3f} ms  (n={len(values)})")


def main() -> None:
    if sys.argv[1:2] == ["worker"]:
        store, lib, url, name, rounds, role = sys.argv[2:8]
        if lib == "floor":
            floor_worker(store, url, name, int(rounds), role == "1")
        else:
            worker(store, lib, url, name, int(rounds))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", choices=("redis", "zookeeper"))
    parser.add_argument("lib", choices=("leaselect", "leaselect-callbacks", "peer", "floor"))
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--url")
    args = parser.parse_args()
    store_url = args.url or configured_url(STORES[args.store])
    if not store_url:
        parser.error(f"no {args.store} URL: pass --url or start backends/launch.py")
    name = "trace-" + os.urandom(4).hex()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.handover_trace",
                "worker",
                args.store,
                args.lib,
                store_url,
                name,
                str(args.rounds),
                str(role),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for role in range(2)
    ]
    outputs = [json.loads(proc.communicate(timeout=300)[0]) for proc in procs]
    analyse(outputs)


if __name__ == "__main__":
    main()
