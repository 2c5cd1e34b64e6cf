"""``python guard.py --parent PID [--report-fd FD] -- CMD...``: the command's bodyguard.

Standard library only, so ``leaselect run`` starts it as a plain script (``python -I -S
guard.py``) without importing leaselect: the command starts ~0.1 s sooner.

The guard runs in its own session, dies with its parent (``PR_SET_PDEATHSIG``), adopts orphaned
descendants (``PR_SET_CHILD_SUBREAPER``) and, whenever it ends, SIGKILLs every descendant (found
by walking parent links in ``/proc``, so a process in its own session is found too) and reaps
them all, so no part of the command outlives its lease. Signals from ``leaselect run``:

- SIGTERM: forwarded to every descendant (the command and whatever it started);
- SIGUSR2: kill every descendant now and exit (the supervisor's hard stop);
- SIGUSR1 (the parent-death signal): the same, when ``leaselect run`` died.

With ``--report-fd``, the guard writes the command's pid (also its process group) to that
descriptor once the command started, so ``leaselect run`` can freeze the whole group with one
``killpg`` if the guard itself is killed. It exits with the command's exit status (128 + N when
the command died of signal N).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from types import FrameType

PARENT_DIED = signal.SIGUSR1
KILL_NOW = signal.SIGUSR2
EXIT_BAD_USAGE = 2
EXIT_KILLED = 128 + signal.SIGKILL
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CLEANUP_BOUND = 5.0  # seconds the final kill may take (a process in D state cannot die sooner)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}) failed: {os.strerror(err)}")


def set_parent_death_signal(signum: int) -> None:
    """Ask the kernel to send ``signum`` when the thread that forked us exits."""
    _prctl(PR_SET_PDEATHSIG, signum)


def become_subreaper() -> None:
    """Make orphaned descendants re-parent to this process instead of init."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, state) of every process, zombies included."""
    found: dict[int, tuple[int, int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        found[int(entry)] = (int(fields[1]), int(fields[2]), fields[0])
    return found


def _parents(zombies: bool = False) -> dict[int, int]:
    """pid -> parent pid of every live process (and zombie, if ``zombies``)."""
    return {pid: ppid for pid, (ppid, _, st) in _table().items() if zombies or st != "Z"}


def descendants(root: int, skip: frozenset[int] = frozenset()) -> list[int]:
    """Live descendants of ``root`` (children first), not entering the subtrees of ``skip``."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    todo = [pid for pid in children.get(root, []) if pid not in skip]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(p for p in children.get(pid, []) if p not in skip)
    return found


def children(parent: int) -> list[int]:
    """Direct children of ``parent``, zombies included (to be reaped)."""
    return [pid for pid, ppid in _parents(zombies=True).items() if ppid == parent]


def signal_all(pids: list[int], signum: int) -> None:
    """Send ``signum`` to each of ``pids`` that still exists."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def reap(keep: int = 0) -> int:
    """Reap our zombie children (all but ``keep``) without blocking; how many others remain."""
    if not keep:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return 0
        return 1
    left = 0
    for pid in children(os.getpid()):
        with contextlib.suppress(ChildProcessError):
            if pid != keep and os.waitpid(pid, os.WNOHANG)[0] == 0:
                left += 1
    return left


def _signal_groups(groups: set[int], signum: int) -> None:
    for group in sorted(groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)


def _freeze_round(root: int, groups: set[int], stopped: set[int]) -> bool:
    """SIGSTOP the known process groups, and every live descendant of ``root`` and its group
    the moment they are seen (a hopping process forks again within a millisecond); True if
    this walk found every live descendant already stopped and no new group."""
    _signal_groups(groups, signal.SIGSTOP)
    table, own = _table(), os.getpgrp()
    ours, todo, settled = {root}, [root], True
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    while todo:
        for pid in kids.get(todo.pop(), []):
            if pid in ours:
                continue
            ours.add(pid)
            todo.append(pid)
            _, group, state = table[pid]
            if group not in groups and group not in (own, 0, 1):
                settled = False
                groups.add(group)  # a group in a descendant's session: its members are ours
                _signal_groups({group}, signal.SIGSTOP)
            if state != "Z" and (pid not in stopped or state not in ("T", "t")):
                settled = False
                stopped.add(pid)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGSTOP)
    return settled


def kill_all(group: int = 0, keep: int = 0, bound: float = CLEANUP_BOUND) -> None:
    """SIGKILL every descendant and reap them all, within ``bound`` seconds.

    First freeze the tree (SIGSTOP ``group`` at once, then every descendant found and its
    process group, walking again until two walks in a row find nothing new and nothing
    running: a hopping process can fork and exit between one walk's listing and its read), so a
    process that keeps forking cannot stay ahead of the walk; then SIGKILL everything found
    and reap. Zombies are reaped on every round. ``keep`` is a child left unreaped: the
    command, whose zombie holds its pid so ``group`` cannot name anyone else's group."""
    me, end = os.getpid(), time.monotonic() + bound
    stopped: set[int] = set()
    groups = {group} if group else set()
    quiet = 0  # a walk can miss a process that forks and exits between listing and reading
    while time.monotonic() < end:
        reap(keep)
        quiet = quiet + 1 if _freeze_round(me, groups, stopped) else 0
        if quiet >= 2:
            break
    while time.monotonic() < end:
        _signal_groups(groups, signal.SIGKILL)
        signal_all(sorted(stopped), signal.SIGKILL)
        stopped = set(descendants(me))
        signal_all(sorted(stopped), signal.SIGKILL)
        if not reap(keep) and not stopped:
            break
        time.sleep(0.001)


_command = {"pid": 0}  # the command's pid, which is also its process group


def _kill_and_exit(signum: int, frame: FrameType | None) -> None:
    kill_all(_command["pid"], _command["pid"])
    os._exit(EXIT_KILLED)


def _forward(signum: int, frame: FrameType | None) -> None:
    signal_all(descendants(os.getpid()), signum)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Not ours to act on: ``leaselect run`` decides when the command stops."""


def _status_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def _child_setup(guard: int) -> None:
    set_parent_death_signal(signal.SIGKILL)
    os.setpgid(0, 0)  # a group of its own: one killpg reaches every member, forking or not
    if os.getppid() != guard:  # the guard died before the signal was armed
        os._exit(EXIT_KILLED)


def _report(fd: int, pid: int) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, f"{pid}\n".encode())
    with contextlib.suppress(OSError):
        os.close(fd)


def supervise(parent: int, command: list[str], report_fd: int = -1) -> int:
    """Arm the kernel hooks, run ``command``, and clean up after it."""
    signal.signal(PARENT_DIED, _kill_and_exit)
    signal.signal(KILL_NOW, _kill_and_exit)
    set_parent_death_signal(PARENT_DIED)
    if os.getppid() != parent:
        return EXIT_KILLED
    become_subreaper()
    signal.signal(signal.SIGTERM, _forward)
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _ignore)
    me = os.getpid()
    try:
        child = subprocess.Popen(command, preexec_fn=lambda: _child_setup(me))
    except OSError as exc:
        print(f"leaselect: error: cannot start {command[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    _command["pid"] = child.pid
    if report_fd >= 0:
        _report(report_fd, child.pid)
    while True:  # reap all but the command, whose zombie keeps its group id ours until the end
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        if info is not None and info.si_pid == child.pid:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.si_pid if info is not None else -1, os.WNOHANG)
    kill_all(child.pid, child.pid)
    _, status = os.waitpid(child.pid, 0)
    return _status_code(status)


def main(argv: list[str] | None = None) -> int:
    """Parse ``--parent PID -- CMD...`` and supervise."""
    args = sys.argv[1:] if argv is None else argv
    report_fd = -1
    if args[2:3] == ["--report-fd"] and len(args) > 3:
        report_fd, args = int(args[3]), args[:2] + args[4:]
    if len(args) < 4 or args[0] != "--parent" or args[2] != "--":
        print(
            "usage: python -m leaselect.cli.guard --parent PID [--report-fd FD] -- CMD...",
            file=sys.stderr,
        )
        return EXIT_BAD_USAGE
    return supervise(int(args[1]), args[3:], report_fd)


if __name__ == "__main__":
    sys.exit(main())
