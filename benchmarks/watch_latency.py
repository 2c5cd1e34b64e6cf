"""Leader watches on every store: how soon a watcher sees a change, next to the hand-over.

python -m benchmarks.watch_latency [--stores sqlite redis etcd zookeeper] [--rounds 30]
    [--kills 4] [--ttl 3]

One watcher (``leaselect.watch``) in this process; contenders in processes of their own; times
on CLOCK_BOOTTIME, shared by all processes.
- release: two processes take turns (hold 50 ms, release); from the leader's ``release()`` call
  to the watcher seeing the next leader, and to that leader's ``acquire()`` returning.
- kill -9, nobody waiting: from the kill to the watcher seeing nobody (the store's expiry).
- kill -9, a rival waiting: from the kill to the watcher seeing the rival, and to the rival's
  ``acquire()`` returning.
The kills fall at a random point of the renewal cycle.
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
import tempfile
import threading
import time
from typing import Any

import leaselect
from backends.testbed.env_names import URL_VARIABLES
from leaselect.clock import SYSTEM_CLOCK


def worker(url: str, name: str, ttl: float, rounds: int, hold: float) -> None:
    """Acquire ``rounds`` times, print elected/release lines; hold ``hold`` seconds each."""
    elector = leaselect.Elector(url, name, ttl=ttl)
    for _ in range(rounds):
        lease = elector.acquire(timeout=60)
        assert lease is not None
        emit("elected", lease.token)
        time.sleep(hold)
        emit("release", lease.token)
        elector.release()
    elector.close()


def emit(event: str, token: int) -> None:
    print(json.dumps({"e": event, "t": SYSTEM_CLOCK.now(), "token": token}), flush=True)


def spawn(url: str, name: str, ttl: float, rounds: int, hold: float) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "benchmarks.watch_latency", "--worker", url, name]
    return subprocess.Popen(
        [*argv, str(ttl), str(rounds), str(hold)], stdout=subprocess.PIPE, text=True
    )


def read(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"worker exited ({proc.wait()})"
    record: dict[str, Any] = json.loads(line)
    return record


class Watcher:
    """A watch on its own thread; ``seen`` maps token (None: nobody) to first-seen times."""

    def __init__(self, url: str, name: str) -> None:
        self.watch = leaselect.watch(url, name)
        self.seen: list[tuple[float, int | None]] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for change in self.watch:
            with self._changed:
                token = None if change.leader is None else change.leader.token
                self.seen.append((SYSTEM_CLOCK.now(), token))
                self._changed.notify_all()

    def when(self, token: int | None, after: float, within: float) -> float:
        """The first time after ``after`` the watcher saw ``token``."""

        def found() -> float | None:
            return next((t for t, k in self.seen if k == token and t >= after), None)

        with self._changed:
            assert self._changed.wait_for(lambda: found() is not None, within), (token, self.seen)
            at = found()
            assert at is not None
            return at

    def close(self) -> None:
        self.watch.close()
        self._thread.join(5)


def releases(url: str, name: str, ttl: float, rounds: int) -> tuple[list[float], list[float]]:
    """(release -> watcher saw the next leader, release -> next acquire() returned), in ms."""
    watcher = Watcher(url, name)
    procs = [spawn(url, name, ttl, rounds, 0.05) for _ in range(2)]
    events: list[dict[str, Any]] = []
    lock = threading.Lock()

    def drain(proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                events.append(json.loads(line))

    readers = [threading.Thread(target=drain, args=(p,)) for p in procs]
    for reader in readers:
        reader.start()
    for proc in procs:
        proc.wait(timeout=300)
    for reader in readers:
        reader.join()
    events.sort(key=lambda e: e["t"])
    seen_ms, elected_ms = [], []
    for before, after in itertools.pairwise(events):
        if before["e"] == "release" and after["e"] == "elected":
            elected_ms.append((after["t"] - before["t"]) * 1000)
            seen_ms.append((watcher.when(after["token"], before["t"], 5) - before["t"]) * 1000)
    watcher.close()
    return seen_ms, elected_ms


def kill(url: str, name: str, ttl: float, rival: bool) -> tuple[float, float | None]:
    """kill -9 of a holder: (seconds to the watcher's report, seconds to the rival's election)."""
    watcher = Watcher(url, name)
    holder = spawn(url, name, ttl, 1, 3600)
    token = read(holder)["token"]
    watcher.when(token, 0, 10)
    waiting = None
    if rival:
        waiting = spawn(url, name, ttl, 1, 3600)
        time.sleep(0.3)
    time.sleep(random.uniform(0, ttl / 3))
    os.kill(holder.pid, signal.SIGKILL)
    killed = SYSTEM_CLOCK.now()
    holder.wait()
    try:
        if waiting is None:
            return watcher.when(None, killed, 3 * ttl) - killed, None
        elected = read(waiting)
        seen = watcher.when(elected["token"], killed, 3 * ttl)
        return seen - killed, elected["t"] - killed
    finally:
        if waiting is not None:
            waiting.kill()
            waiting.wait()
        watcher.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def url_of(store: str, directory: str) -> str:
    if store == "sqlite":
        return f"sqlite:///{directory}/watch.db"
    variable = URL_VARIABLES[store]
    url = os.environ.get(variable)
    if not url:
        raise SystemExit(f"{variable} is not set: python3 backends/launch.py up {store}")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "redis", "etcd", "zookeeper"])
    parser.add_argument("--rounds", type=int, default=30, help="releases per store")
    parser.add_argument("--kills", type=int, default=4, help="kills per store and case")
    parser.add_argument("--ttl", type=float, default=3.0)
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, TTL {args.ttl:g} s")
    header = (
        "store      release->watcher ms   release->acquire ms   kill->watcher nobody s   "
        "kill->watcher rival s   kill->rival acquire s"
    )
    print(header)
    with tempfile.TemporaryDirectory() as directory:
        for store in args.stores:
            url = url_of(store, directory)
            tag = f"w-{os.getpid()}-{store}"
            seen, elected = releases(url, f"{tag}-r", args.ttl, args.rounds // 2)
            alone = [kill(url, f"{tag}-k{i}", args.ttl, False)[0] for i in range(args.kills)]
            rivals = [kill(url, f"{tag}-q{i}", args.ttl, True) for i in range(args.kills)]
            print(
                f"{store:<10} {statistics.median(seen):6.2f} / {percentile(seen, 0.95):6.2f}"
                f"       {statistics.median(elected):6.2f} / {percentile(elected, 0.95):6.2f}"
                f"       {statistics.median(alone):5.2f} (max {max(alone):.2f})"
                f"           {statistics.median(r[0] for r in rivals):5.2f}"
                f"                 {statistics.median(r[1] or 0 for r in rivals):5.2f}",
                flush=True,
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        url, name, ttl, rounds, hold = sys.argv[2:7]
        worker(url, name, float(ttl), int(rounds), float(hold))
    else:
        main()
