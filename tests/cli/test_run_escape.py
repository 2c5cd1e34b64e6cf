"""No descendant of the command outlives its tenure, on every path: loss (renewals stall past
the deadline), SIGTERM and SIGINT of ``leaselect run``, SIGKILL of ``leaselect run``, and the
guard itself SIGKILLed (as the OOM killer would) under a command that changed user.

The command leaves three kinds of descendant behind: one in its own session (``setsid``), one
double-forked (re-parented, own session, ignores SIGTERM) and one that ignores SIGTERM."""

from __future__ import annotations

import os
import pwd
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.waiting import eventually

from .helpers import alive, start

SPAWNER = """
import os, signal, subprocess, sys, time
pids = sys.argv[1]
def note(pid):
    with open(pids, "a") as f:
        f.write(f"{pid}\\n")
# 1. its own session, parent alive
note(subprocess.Popen(["setsid", "sleep", "300"]).pid)
# 2. double fork: the middle process exits, the grandchild re-parents and ignores SIGTERM
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        note(os.getpid())
        while True:
            time.sleep(1)
    os._exit(0)
# 3. ignores SIGTERM, in the group
stubborn = subprocess.Popen(
    ["sh", "-c", f"trap '' TERM; echo ready > {pids}.ready; exec sleep 300"])
note(stubborn.pid)
with open(pids + ".main", "w") as f:
    f.write(str(os.getpid()))
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    time.sleep(1)
"""
TTL, GRACE = 2.0, 0.4
USABLE = TTL * 0.99 / 1.01 - TTL / 10


def _spawned(pids: Path) -> list[int]:
    if not pids.exists() or not Path(f"{pids}.ready").exists():
        return []
    main = Path(f"{pids}.main")
    found = [int(x) for x in pids.read_text().split()]
    if len(found) < 3 or not main.exists() or not main.read_text():
        return []
    return [*found, int(main.read_text())]


def _runner(tmp_path: Path, *prefix: str) -> tuple[subprocess.Popen[str], list[int], Path]:
    shared = Path(tempfile.mkdtemp(prefix="leaselect-escape-"))
    shared.chmod(0o777)  # writable by a command that dropped privileges
    db, pids = tmp_path / "r.db", shared / "pids"
    runner = start(
        "run",
        "svc",
        "--url",
        f"sqlite:///{db}",
        "--ttl",
        str(TTL),
        "--grace",
        str(GRACE),
        "--",
        *prefix,
        sys.executable,
        "-c",
        SPAWNER,
        str(pids),
    )
    assert eventually(lambda: bool(_spawned(pids)), timeout=10), "the command never started"
    found = _spawned(pids)
    assert all(alive(pid) for pid in found)
    return runner, found, db


def _finish(runner: subprocess.Popen[str], pids: list[int]) -> None:
    if runner.poll() is None:
        runner.kill()
        runner.wait(5)
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signal_to_run_kills_every_descendant(tmp_path: Path, signum: int) -> None:
    runner, pids, _ = _runner(tmp_path)
    try:
        runner.send_signal(signum)
        runner.wait(10)
        assert eventually(lambda: not any(alive(p) for p in pids), timeout=GRACE + 2), [
            p for p in pids if alive(p)
        ]
    finally:
        _finish(runner, pids)


def test_loss_kills_every_descendant_by_the_deadline(tmp_path: Path) -> None:
    runner, pids, db = _runner(tmp_path)
    lock = sqlite3.connect(db, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # every renewal now fails: the tenure ends at the deadline
        assert eventually(lambda: not any(alive(p) for p in pids), timeout=USABLE + 1), [
            p for p in pids if alive(p)
        ]
    finally:
        lock.close()
        _finish(runner, pids)


def _nobody() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("nobody").pw_name
    except KeyError:
        return None


@pytest.mark.skipif(
    _nobody() is None and os.environ.get("CI") != "true",
    reason="needs root and a 'nobody' user to drop privileges to",
)
def test_guard_killed_under_a_command_that_changed_user(tmp_path: Path) -> None:
    """The kernel clears the parent-death signal on a user change: the guard's SIGKILL must
    still take the command down, and ``run`` must not start a second copy while it lives."""
    runner, pids, _ = _runner(
        tmp_path, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"
    )
    try:
        guard = next(int(p) for p in _children(runner.pid))
        os.kill(guard, signal.SIGKILL)
        assert eventually(lambda: not any(alive(p) for p in pids), timeout=3), [
            p for p in pids if alive(p)
        ]
    finally:
        runner.send_signal(signal.SIGTERM)
        _finish(runner, pids)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_descendants_die_before_the_next_start(tmp_path: Path) -> None:
    """A second tenure's command never runs beside the first one's leftovers."""
    runner, pids, _ = _runner(tmp_path)
    try:
        time.sleep(0.2)
        main = pids[-1]
        os.kill(main, signal.SIGKILL)  # the command's main process exits: leftovers are killed
        assert eventually(lambda: not any(alive(p) for p in pids), timeout=2), [
            p for p in pids if alive(p)
        ]
    finally:
        _finish(runner, pids)
