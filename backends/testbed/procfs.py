"""What /proc says about a process: its state, whether it still runs, its command line."""

from __future__ import annotations

import os
from pathlib import Path

# Pids of the servers this Python process spawned (its children): reaped once they exit.
SPAWNED: set[int] = set()


def reap_children() -> None:
    """Collect the exit status of our own children that have exited, so none stays a zombie."""
    for pid in list(SPAWNED):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            SPAWNED.discard(pid)


def proc_state(pid: int, task: str | None = None) -> str | None:
    """The state letter (R, S, T, Z...) of a process, or of one of its threads (``task``), from
    /proc; None if there is no such process or thread."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    try:
        stat = Path(path).read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]


def alive(pid: int) -> bool:
    """Whether the process exists and has not exited (zombies count as gone).

    A multi-threaded server whose main thread already shows Z may still have threads exiting
    (Redis: a background thread finishing the AOF fsync), and those keep its descriptors, the
    listening socket included, open: it is alive until every thread is gone.
    """
    reap_children()
    if proc_state(pid) not in (None, "Z", "X"):
        return True
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    return any(proc_state(pid, task) not in (None, "Z", "X") for task in tasks)


def cmdline(pid: int) -> list[str]:
    """The process's argv, [] if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]
