"""Several processes creating one new fence file at the same moment all succeed (SQLite can
answer "database is locked" to the switch to WAL at once, without its busy timeout: 6 of 240
creations failed so before)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from leaselect.fencing import SqliteFence


def create(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        SqliteFence(path)
        results.put("ok")
    except Exception as exc:  # reported to the test
        results.put(repr(exc))


def test_processes_creating_one_fence_at_once_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("forkserver")  # no threads of the test process
    failures = []
    for round_ in range(20):
        path = str(tmp_path / f"fence-{round_}.db")
        barrier, results = context.Barrier(6), context.Queue()
        procs = [context.Process(target=create, args=(path, barrier, results)) for _ in range(6)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(30)
        failures += [r for r in (results.get(timeout=5) for _ in procs) if r != "ok"]
    assert failures == []
