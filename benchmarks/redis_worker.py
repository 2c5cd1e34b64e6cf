"""One contender process for ``benchmarks.redis_handover``: leaselect or python-redis-lock.

python -m benchmarks.redis_worker LIB URL NAME TTL MODE [ARGS]
  LIB: leaselect (on_elected) | leaselect-acquire | leaselect-metrics (on_elected, with
  leaselect.metrics.prometheus instrumented) | redis_lock.
  MODE: rounds N HOLD PAUSE | hold | once | commands WAITERS.
  HOLD: seconds, or LOW:HIGH for a random time in between.
Prints one JSON line per event with CLOCK_BOOTTIME times (shared by every process of the host).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
import redis_lock

import leaselect
from benchmarks.events import hold_time


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"e": event, "t": now(), **fields}), flush=True)


class Contender(Protocol):
    def acquire(self) -> None: ...
    def release(self) -> None: ...


class LeaselectContender:
    """Elected time = the ``on_elected`` callback, as a user of leaselect sees it."""

    def __init__(self, url: str, name: str, ttl: float, report: bool = True) -> None:
        self.elected = threading.Event()
        self.elector = leaselect.Elector(
            url, name, ttl=ttl, on_elected=self._on_elected if report else None
        )
        self.report = report

    def _on_elected(self, lease: leaselect.Lease) -> None:
        emit("elected", token=lease.token)
        self.elected.set()

    def acquire(self) -> None:
        if not self.report:
            assert self.elector.acquire(timeout=120) is not None
            return
        self.elected.clear()
        self.elector.start()  # campaign in the background, as a callback-driven service does
        assert self.elected.wait(120), "not elected within 120 s"

    def release(self) -> None:
        self.elector.release()


class LeaselectAcquireContender:
    """Elected time = ``acquire()`` returning, as a user of the blocking call sees it."""

    def __init__(self, url: str, name: str, ttl: float, report: bool = True) -> None:
        self.elector = leaselect.Elector(url, name, ttl=ttl)
        self.report = report

    def acquire(self) -> None:
        lease = self.elector.acquire(timeout=120)
        assert lease is not None, "not elected within 120 s"
        if self.report:
            emit("elected", token=lease.token)

    def release(self) -> None:
        self.elector.release()


class RedisLockContender:
    """python-redis-lock with auto-renewal; elected time = ``acquire()`` returning."""

    def __init__(self, url: str, name: str, ttl: float, report: bool = True) -> None:
        self.client = redis.Redis.from_url(url)
        self.lock = redis_lock.Lock(self.client, name, expire=int(ttl), auto_renewal=True)
        self.report = report

    def acquire(self) -> None:
        self.lock.acquire()
        if self.report:
            emit("elected")

    def release(self) -> None:
        self.lock.release()


def instrumented(url: str, name: str, ttl: float, report: bool = True) -> Contender:
    """``LeaselectContender`` with Prometheus metrics on (a registry of its own)."""
    from prometheus_client import CollectorRegistry

    from leaselect.metrics.prometheus import instrument

    instrument(CollectorRegistry())
    return LeaselectContender(url, name, ttl, report)


def make(lib: str, url: str, name: str, ttl: float, report: bool = True) -> Contender:
    factories: dict[str, Callable[..., Contender]] = {
        "leaselect": LeaselectContender,
        "leaselect-acquire": LeaselectAcquireContender,
        "leaselect-metrics": instrumented,
        "redis_lock": RedisLockContender,
    }
    return factories[lib](url, name, ttl, report)


def rounds(contender: Contender, count: int, hold: str, pause: float) -> None:
    for _ in range(count):
        contender.acquire()
        time.sleep(hold_time(hold))
        emit("release")
        contender.release()
        time.sleep(pause)  # let the other process take it


def commands(lib: str, url: str, name: str, ttl: float, waiters: int) -> None:
    """Leader + ``waiters`` blocked waiters; the caller measures one release's commands."""
    holder = make(lib, url, name, ttl, report=False)
    holder.acquire()
    for _ in range(waiters):
        threading.Thread(target=make(lib, url, name, ttl).acquire, daemon=True).start()
    emit("ready")
    sys.stdin.readline()  # the driver resets the stats, then tells us to release
    emit("release")
    holder.release()
    sys.stdin.readline()
    os._exit(0)


def main() -> None:
    lib, url, name, ttl_text, mode, *args = sys.argv[1:]
    ttl = float(ttl_text)
    if mode == "commands":
        commands(lib, url, name, ttl, int(args[0]))
    contender = make(lib, url, name, ttl)
    emit("ready")
    if mode == "rounds":
        rounds(contender, int(args[0]), args[1], float(args[2]))
    else:
        contender.acquire()
        if mode == "hold":
            time.sleep(3600)
    os._exit(0)


if __name__ == "__main__":
    main()
