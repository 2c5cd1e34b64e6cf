"""Celery beat on one leader: leaselect's LeaderScheduler against celery-redbeat, same Redis.

python -m benchmarks.celery_beat [--rounds 2] [--ttl 3]

Per scheduler and round: three ``celery beat`` processes, a task every second, 3 s leases; no
worker: this process pops every message from the queue as it arrives (BLPOP) and stamps it.
Faults, one after the other: kill -9 of the leading beat, SIGSTOP of the next leader for TTL + 2
s then SIGCONT, SIGTERM of the next (if two beats still run after the SIGCONT). The leader is the
process whose pid is in the latest message's ``origin`` header. Per fault: the gap (the
longest time without a message from the fault on, minus the 1 s period); over the whole round,
the duplicates (messages beyond the first of one run, a run being the ``leaselect_slot``
header (leaselect) or, where messages name no run (redbeat), the wall-clock second the message
arrived in) and how many beats still run after the SIGCONT. Needs ``pip install celery-redbeat``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

import redis

SCHEDULERS = {
    "leaselect": "leaselect.integrations.celery:LeaderScheduler",
    "redbeat": "redbeat.RedBeatScheduler",
}


class Queue:
    """Pops and stamps every message of one queue on a thread of its own."""

    def __init__(self, url: str, name: str) -> None:
        import json

        self._json = json
        self.client = redis.Redis.from_url(url)
        self.name = name
        self.arrivals: list[tuple[float, int, str]] = []  # (wall time, sender pid, run)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            popped = self.client.blpop([self.name], timeout=0.2)
            if popped is None:
                continue
            headers: dict[str, Any] = self._json.loads(popped[1])["headers"]
            pid = int(str(headers.get("origin", "gen0@")).split("@")[0].removeprefix("gen"))
            now = time.time()
            run = str(headers.get("leaselect_slot") or int(now))  # redbeat names no run
            self.arrivals.append((now, pid, run))

    def leader(self, other_than: int | None = None, within: float = 20) -> int | None:
        """The pid of the beat that sent the latest message, once it is not ``other_than``."""
        end = time.monotonic() + within
        while time.monotonic() < end:
            if self.arrivals and self.arrivals[-1][1] not in (other_than, 0):
                return self.arrivals[-1][1]
            time.sleep(0.05)
        return None

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.client.close()


def round_of(scheduler: str, store: str, broker: str, ttl: float) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "BEAT_BROKER_URL": broker,
        "BEAT_QUEUE": f"bench-q-{tag}",
        "BEAT_STORE_URL": store,
        "BEAT_ELECTION": f"bench-beat-{tag}",
        "BEAT_TTL": str(ttl),
    }
    queue = Queue(broker, env["BEAT_QUEUE"])
    argv = [sys.executable, "-m", "celery", "-A", "benchmarks.celery_app", "beat"]
    procs = {}
    for _ in range(3):
        proc = subprocess.Popen(
            [*argv, "-S", SCHEDULERS[scheduler]],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs[proc.pid] = proc
    faults: list[tuple[str, float]] = []
    alive = 0
    try:
        first = queue.leader()
        assert first is not None, "no beat sends"
        time.sleep(4)
        faults.append(("kill -9", time.time()))
        procs[first].kill()
        second = queue.leader(other_than=first)
        assert second is not None, "no beat took over from the killed one"
        time.sleep(3)
        faults.append(("SIGSTOP", time.time()))
        os.kill(second, signal.SIGSTOP)
        time.sleep(ttl + 2)
        os.kill(second, signal.SIGCONT)
        third = queue.leader(other_than=second)
        time.sleep(4)
        alive = sum(proc.poll() is None for proc in procs.values())
        if third is not None and alive >= 2:  # a graceful hand-over needs a beat to take over
            faults.append(("SIGTERM", time.time()))
            procs[third].terminate()
            queue.leader(other_than=third)
            time.sleep(4)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait()
        queue.close()
    times = [t for t, _, _ in queue.arrivals]
    result: dict[str, float] = {}
    for label, at in faults:
        after = [t for t in times if t >= at - 1.0]
        steps = [b - a for a, b in itertools.pairwise(after) if b <= at + 3 * ttl + 5]
        result[f"{label} gap s"] = max(steps, default=math.inf) - 1.0
    runs = Counter(run for _, _, run in queue.arrivals)
    result["duplicates"] = sum(count - 1 for count in runs.values())
    result["messages"] = len(times)
    result["beats alive after SIGCONT"] = alive
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--schedulers", nargs="+", default=list(SCHEDULERS))
    args = parser.parse_args()
    store = os.environ.get("LEASELECT_TEST_REDIS_URL", "redis://127.0.0.1:16379/0")
    broker = store.rsplit("/", 1)[0] + "/8"
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, TTL {args.ttl:g} s, {store}")
    for index in range(args.rounds):
        for scheduler in args.schedulers:
            result = round_of(scheduler, store, broker, args.ttl)
            shown = ", ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()
            )
            print(f"round {index + 1} {scheduler:<10} {shown}", flush=True)


if __name__ == "__main__":
    main()
