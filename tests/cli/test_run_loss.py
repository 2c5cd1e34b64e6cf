"""Renewals stall (the store is locked by another process): SIGTERM at deadline - grace,
SIGKILL by the deadline. A real fault on the real embedded store, no mocks."""

from __future__ import annotations

import signal
import sqlite3
import sys
import time
from pathlib import Path

from tests.support.waiting import eventually

from .helpers import alive, start

STUBBORN = """
import os, signal, sys, time
log = sys.argv[1]
def note(what):
    with open(log, "a") as f:
        f.write(f"{what} {os.getpid()} {time.clock_gettime(time.CLOCK_BOOTTIME)}\\n")
signal.signal(signal.SIGTERM, lambda *_: note("term"))
note("start")
while True:
    signal.pause()
"""
TTL, GRACE = 3.0, 0.6
USABLE = TTL * 0.99 / 1.01 - TTL / 10  # the local deadline after the last renewal was sent


def _now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def test_stalled_renewals_stop_the_child_by_the_deadline(tmp_path: Path) -> None:
    db, log = tmp_path / "r.db", tmp_path / "log"
    cmd = ["--", sys.executable, "-c", STUBBORN, str(log)]
    runner = start(
        "run", "svc", "--url", f"sqlite:///{db}", "--ttl", str(TTL), "--grace", str(GRACE), *cmd
    )
    assert eventually(lambda: log.exists() and "start" in log.read_text())
    lock = sqlite3.connect(db, isolation_level=None)  # after leaselect created it private
    try:
        pid = int(log.read_text().split()[1])
        lock.execute("BEGIN EXCLUSIVE")  # every renewal now fails: jeopardy
        locked_at = _now()
        assert eventually(lambda: not alive(pid), timeout=USABLE + 1, step=0.01)
        dead_at = _now()
        lines = [line.split() for line in log.read_text().splitlines()]
        term_at = next(float(t) for what, _, t in lines if what == "term")
        assert dead_at - locked_at < USABLE + 0.2, "child outlived the local deadline"
        # the kill comes grace after the SIGTERM; the upper slack covers this test's polling
        assert GRACE - 0.25 < dead_at - term_at < GRACE + 0.5, "SIGTERM not grace before KILL"
    finally:
        lock.close()
        runner.send_signal(signal.SIGTERM)
        runner.wait(10)
