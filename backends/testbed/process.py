"""Server processes: spawning one with its pid file, finding it again, signalling, stopping."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from collections.abc import Iterable, Sequence

from .errors import BackendError
from .member import Member
from .procfs import SPAWNED, alive, cmdline, proc_state

STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


def _read_pid(member: Member) -> int | None:
    try:
        return int(member.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_ours(member: Member, pid: int) -> bool:
    """Whether ``pid`` is this member's server: alive, and its argv names the member's dir."""
    marker = f"{member.directory}{os.sep}"
    return alive(pid) and any(marker in arg for arg in cmdline(pid))


def running_pid(member: Member) -> int | None:
    """The pid of the member's running server (started by this launcher), else None."""
    pid = _read_pid(member)
    return pid if pid is not None and _is_ours(member, pid) else None


def exited(member: Member) -> bool:
    """Whether the process in the member's pid file is gone (liveness only: a pid file this
    launcher just wrote needs no ``_is_ours`` argv check, one thing less to misread)."""
    pid = _read_pid(member)
    return pid is None or not alive(pid)


def require_pid(member: Member) -> int:
    """The pid of the member's running server; BackendError if it is not running."""
    pid = running_pid(member)
    if pid is None:
        raise BackendError(f"{member.name} is not running")
    return pid


def _stop_inheriting_descriptors() -> None:
    """Mark every descriptor above stderr close-on-exec, so a server never inherits one
    (a caller's ``flock`` on a lock file would otherwise be held for the server's lifetime)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


def spawn(member: Member, argv: Sequence[str], env: dict[str, str]) -> int:
    """Start a server in its own session, output to its log; write its pid file; its pid."""
    log = member.output_log
    log.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with log.open("ab") as out:
        out.write(f"\n=== {stamp} launch.py starts: {shlex.join(argv)}\n".encode())
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        _stop_inheriting_descriptors()
        pid = os.posix_spawn(
            argv[0],
            list(argv),
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, fd, 1),
                (os.POSIX_SPAWN_DUP2, fd, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(fd)
    SPAWNED.add(pid)
    member.pid_file.write_text(f"{pid}\n")
    return pid


def _wait_gone(pids: Iterable[int], deadline: float) -> list[int]:
    """Wait until the processes have exited or the deadline passes; the ones still alive."""
    remaining = list(pids)
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        remaining = [pid for pid in remaining if alive(pid)]
    return [pid for pid in remaining if alive(pid)]


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def terminate(members: Sequence[Member], grace: float | None) -> list[str]:
    """Stop the members' servers; the names of those that were running.

    SIGTERM, then SIGKILL what is left after ``grace`` seconds; ``grace=None`` sends SIGKILL
    straight away (a crash: no chance to flush or say goodbye).
    """
    running = {m.name: pid for m in members if (pid := running_pid(m)) is not None}
    stubborn = list(running.values())
    if grace is not None:
        for pid in stubborn:
            _signal(pid, signal.SIGTERM)
            _signal(pid, signal.SIGCONT)  # a paused process handles SIGTERM only once resumed
        stubborn = _wait_gone(stubborn, time.monotonic() + grace)
    for pid in stubborn:
        _signal(pid, signal.SIGKILL)
    left = _wait_gone(stubborn, time.monotonic() + 5.0)
    if left:
        raise BackendError(f"pids {left} survived SIGKILL")
    for member in members:
        if running_pid(member) is None:  # stopped now, or a stale pid file
            member.pid_file.unlink(missing_ok=True)
    return list(running)


def set_paused(pid: int, paused: bool) -> None:
    """SIGSTOP (or SIGCONT) ``pid``; wait (up to 2 s) until it has (or has left) stopped state."""
    os.kill(pid, signal.SIGSTOP if paused else signal.SIGCONT)
    deadline = time.monotonic() + 2.0
    while (proc_state(pid) == "T") != paused and time.monotonic() < deadline:
        time.sleep(0.01)


def is_paused(pid: int) -> bool:
    """Whether the process is in the stopped state (SIGSTOP)."""
    return proc_state(pid) == "T"
