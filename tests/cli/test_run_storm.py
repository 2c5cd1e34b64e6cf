"""One start per tenure: a store that stalls for 2 x TTL must not make ``leaselect run`` restart
its command under the same token (the restart storm). Real processes, real stores: the embedded
store locked by another process, and a private Redis stopped with SIGSTOP."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.private import free_port, redis_server_argv, stop
from tests.support.waiting import eventually

from .helpers import start

COUNTER = """
import os, sys, time, signal
with open(sys.argv[1], "a") as f:
    f.write(f"start {os.environ['LEASELECT_TOKEN']} {time.clock_gettime(time.CLOCK_BOOTTIME)}\\n")
while True:
    time.sleep(0.05)
"""
TTL, GRACE = 3.0, 0.6


def _now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _starts(log: Path) -> list[tuple[int, float]]:
    if not log.exists():
        return []
    return [(int(t), float(s)) for _, t, s in (x.split() for x in log.read_text().splitlines())]


@contextmanager
def _sqlite_store(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    db = tmp_path / "r.db"
    locks: list[sqlite3.Connection] = []  # opened only once leaselect has created the file

    def stall() -> None:
        locks.append(sqlite3.connect(db, isolation_level=None))
        locks[0].execute("BEGIN EXCLUSIVE")

    def resume() -> None:
        locks[0].rollback()

    try:
        yield f"sqlite:///{db}", stall, resume
    finally:
        for lock in locks:
            lock.close()


@contextmanager
def _redis_store(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    port = free_port()
    server = subprocess.Popen(redis_server_argv(port, tmp_path), stdout=subprocess.DEVNULL)
    try:
        yield (
            f"redis://127.0.0.1:{port}/0?timeout=0.3",
            lambda: server.send_signal(signal.SIGSTOP),
            lambda: server.send_signal(signal.SIGCONT),
        )
    finally:
        server.send_signal(signal.SIGCONT)
        stop(server)


@pytest.mark.slow
@pytest.mark.parametrize("store", [_sqlite_store, _redis_store], ids=["sqlite", "redis"])
def test_a_stalled_store_starts_the_command_once_per_tenure(tmp_path: Path, store: object) -> None:
    log = tmp_path / "starts"
    with store(tmp_path) as (url, stall, resume):  # type: ignore[operator]
        runner = start(
            "run",
            "-v",
            "svc",
            "--url",
            url,
            "--ttl",
            str(TTL),
            "--grace",
            str(GRACE),
            "--",
            sys.executable,
            "-c",
            COUNTER,
            str(log),
        )
        try:
            assert eventually(lambda: len(_starts(log)) == 1, timeout=10), runner.stderr
            time.sleep(0.3)
            stall()
            stalled_at = _now()
            time.sleep(2 * TTL)
            during = [s for s in _starts(log) if s[1] > stalled_at]
            resume()
            assert during == [], f"{len(during)} starts while the store stalled"
            # after the store is back: one new tenure, one start, with a greater token
            assert eventually(lambda: len(_starts(log)) >= 2, timeout=3 * TTL)
            time.sleep(1.0)
            tokens = [t for t, _ in _starts(log)]
            assert len(tokens) == 2 and tokens[1] > tokens[0], tokens
        finally:
            runner.send_signal(signal.SIGTERM)
            try:
                runner.wait(10)
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait()
        err = runner.stderr.read() if runner.stderr else ""
        assert err.count("started command") == 2, err[-3000:]
