"""The log the scheduler workers (``tests.jobs.scheduler_worker``) write: tenures and runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Tenure:
    pid: int
    token: int
    start: float
    end: float | None = None
    jobs: list[tuple[float, float, float]] = field(default_factory=list)


def read_log(path: Path) -> tuple[dict[tuple[int, int], Tenure], list[tuple[float, int, int]]]:
    tenures: dict[tuple[int, int], Tenure] = {}
    runs: list[tuple[float, int, int]] = []
    for line in path.read_text().splitlines():
        kind, pid, token, *rest = line.split()
        key = (int(pid), int(token))
        if kind == "elected":
            tenures[key] = Tenure(key[0], key[1], float(rest[0]))
        elif kind == "lost":
            tenures[key].end = float(rest[0])
        else:
            fire, begin, end = map(float, rest)
            tenures[key].jobs.append((fire, begin, end))
            runs.append((fire, key[0], key[1]))
    return tenures, runs


def current_leader(path: Path, alive: set[int], timeout: float = 10) -> int:
    """The pid of the live process with the newest open tenure (waits for one)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        tenures, _ = read_log(path) if path.exists() else ({}, [])
        open_ones = [t for t in tenures.values() if t.end is None and t.pid in alive]
        if open_ones:
            return max(open_ones, key=lambda t: t.token).pid
        time.sleep(0.05)
    raise AssertionError("no leader appeared")


def await_runs_of(log: Path, pid: int, timeout: float) -> None:
    """Wait until ``pid`` ran a job (so the fault that follows moves work that really ran)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if log.exists() and any(p == pid for _, p, _ in read_log(log)[1]):
            return
        time.sleep(0.05)
    raise AssertionError(f"the leader {pid} ran no job in {timeout:.0f}s")
