"""SIGKILL of ``leaselect run`` (or of its guard) while the command left PID-hopping processes
behind (each forks, the parent exits, the child sleeps 0.2 ms and repeats; SIGTERM ignored): the
orphaned guard (or ``run``, which the hoppers then re-parent to) must still kill them within a
bounded time and reap all the while (no zombie pile-up).

Whether a hopper lives is read from a lock every hop inherits (``flock`` on one open file),
not from a walk of ``/proc``: a walk misses a process that forks and exits between its
listing and its read, so it cannot tell "all dead" from "missed".

Every trial is capped: at most 2000 zombies, then the guard and the hopper's group are
SIGKILLed whatever the outcome."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.waiting import eventually

from .helpers import start

HOPPER = """
import fcntl, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
held = os.open(sys.argv[1] + ".alive", os.O_RDWR | os.O_CREAT)
fcntl.flock(held, fcntl.LOCK_SH)  # held by every hop until the last one dies
open(sys.argv[1], "w").close()
while True:
    if os.fork():
        os._exit(0)
    time.sleep(0.0002)
"""
COMMAND = """
HOPPERS = 3
import subprocess, sys, time
for _ in range(HOPPERS):
    subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]])
time.sleep(60)
"""
ZOMBIE_CAP = 2000
TRIALS = 3
BOUND = 10.0  # the survivor must be done this long after the SIGKILL (its own bound is 5 s)


def _procs() -> list[tuple[int, int, int, str]]:
    """(pid, ppid, pgid, state) of every process."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found.append((int(entry), int(fields[1]), int(fields[2]), fields[0]))
    return found


def _marked(token: str) -> list[tuple[int, int]]:
    """(pid, pgid) of the live hopper processes carrying ``token`` in their argv."""
    found = []
    for pid, _, pgid, state in _procs():
        if state == "Z":
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if token.encode() in f.read():
                    found.append((pid, pgid))
        except OSError:
            continue
    return found


def _alive(ready: Path) -> bool:
    """True while any hopper lives (each holds a shared lock on ``ready.alive``)."""
    fd = os.open(f"{ready}.alive", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _cleanup(guard: int, token: str, group: int, ready: Path) -> bool:
    """SIGKILL the guard and every hopper (by process group, which a fork cannot escape);
    True if some hopper had outlived the trial."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(guard, signal.SIGKILL)
    escaped = _alive(ready)
    end = time.monotonic() + 5
    while time.monotonic() < end and _alive(ready):
        for pid, pgid in [(0, group), *_marked(token)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if pgid > 1:
                    os.killpg(pgid, signal.SIGKILL)
                if pid:
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    assert not _alive(ready), "hoppers still alive 5s after the test SIGKILLed their group"
    return escaped


def _trial(tmp_path: Path, n: int, victim: str) -> str | None:
    """One SIGKILL of ``victim`` (run or guard); None if the survivor won, else what went wrong."""
    token, ready = f"hop-{uuid.uuid4().hex}", tmp_path / f"ready-{n}"
    runner = start(
        "run", "hop", "--url", f"sqlite:///{tmp_path}/h{n}.db", "--ttl", "3", "--grace", "0.5",
        "--once", "--", sys.executable, "-c", COMMAND, HOPPER, str(ready), token,
    )  # fmt: skip
    guard = group = 0
    outcome: str | None = "not run"
    try:
        assert eventually(ready.exists, timeout=20), runner.stderr.read() if runner.stderr else ""
        guard = next(pid for pid, ppid, _, _ in _procs() if ppid == runner.pid)
        group = next(pgid for _, pgid in _marked(token))
        time.sleep(0.3)  # let it hop a few hundred times
        if victim == "run":
            runner.kill()
            runner.wait()
        else:
            os.kill(guard, signal.SIGKILL)
        survivor = guard if victim == "run" else runner.pid
        end, worst = time.monotonic() + BOUND, 0
        while time.monotonic() < end:
            procs = _procs()
            zombies = sum(1 for _, ppid, _, state in procs if ppid == survivor and state == "Z")
            worst = max(worst, zombies)
            if zombies > ZOMBIE_CAP:
                return f"the {victim} survivor stopped reaping: {zombies} zombie children"
            if not any(p == survivor and st != "Z" for p, _, _, st in procs):
                took = BOUND - (end - time.monotonic())
                print(f"trial {n + 1}: the survivor was done {took:.2f}s after the SIGKILL")
                outcome = None
                break
            time.sleep(0.05)
        else:
            outcome = f"after {BOUND}s the survivor still ran ({worst} zombie children at most)"
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        if guard and _cleanup(guard, token, group, ready) and outcome is None:
            outcome = "the survivor ended but left hoppers alive"
    return outcome


@pytest.mark.parametrize("victim", ["run", "guard"])
def test_sigkill_kills_a_pid_hopping_descendant(tmp_path: Path, victim: str) -> None:
    for n in range(TRIALS):
        failure = _trial(tmp_path, n, victim)
        assert failure is None, f"trial {n + 1}: {failure}"
