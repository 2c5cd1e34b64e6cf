"""One contender process for the etcd benchmark; prints one JSON line per event.

python -m benchmarks.etcd_worker IMPL URL NAME TTL rounds HOLD N | hold  (HOLD: s, or LOW:HIGH)
IMPL is ``leaselect`` (elected = ``acquire()`` returning), ``leaselect-callbacks`` (elected =
``on_elected``) or ``recipe`` (the direct etcd3gw recipe of ``benchmarks.etcd_recipe``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable

import leaselect
from leaselect.clock import SYSTEM_CLOCK
from leaselect.urls import parse

from .etcd_recipe import RecipeElection, connect
from .events import hold_time


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"e": event, "t": SYSTEM_CLOCK.now(), **fields}), flush=True)


def drive(acquire: Callable[[], int], release: Callable[[], None], mode: list[str]) -> None:
    emit("ready")
    if mode[0] == "hold":
        emit("elected", token=acquire())
        time.sleep(3600)
    for _ in range(int(mode[2])):
        token = acquire()
        emit("elected", token=token)
        time.sleep(hold_time(mode[1]))
        emit("release", token=token)
        release()


def run_leaselect(url: str, name: str, ttl: float, mode: list[str]) -> None:
    elector = leaselect.Elector(url, name, ttl=ttl)

    def acquire() -> int:
        lease = elector.acquire(timeout=60)
        assert lease is not None
        return lease.token

    drive(acquire, elector.release, mode)
    elector.close()


def run_leaselect_callbacks(url: str, name: str, ttl: float, mode: list[str]) -> None:
    """A callback user: ``on_elected`` reports; the main thread holds, releases, starts again."""
    elected = threading.Event()
    tokens: list[int] = []

    def on_elected(lease: leaselect.Lease) -> None:
        emit("elected", token=lease.token)
        tokens.append(lease.token)
        elected.set()

    elector = leaselect.Elector(url, name, ttl=ttl, on_elected=on_elected)
    emit("ready")
    elector.start()
    if mode[0] == "hold":
        time.sleep(3600)
    for _ in range(int(mode[2])):
        elected.wait()
        elected.clear()
        time.sleep(hold_time(mode[1]))
        emit("release", token=tokens[-1])
        elector.release()
        elector.start()
    elector.close()


def run_recipe(url: str, name: str, ttl: float, mode: list[str]) -> None:
    host, port = parse(url).host_list(2379)[0]
    election = RecipeElection(connect(host, port), name, int(ttl))
    drive(election.campaign, election.resign, mode)
    election.close()


def main() -> None:
    impl, url, name, ttl, *mode = sys.argv[1:]
    runners = {
        "leaselect": run_leaselect,
        "leaselect-callbacks": run_leaselect_callbacks,
        "recipe": run_recipe,
    }
    runner = runners[impl]
    runner(url, name, float(ttl), mode)


if __name__ == "__main__":
    main()
