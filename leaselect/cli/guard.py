"""``python guard.py --parent PID -- CMD...``: the command's bodyguard.

Standard library only, so ``leaselect run`` starts it as a plain script (``python -I -S
guard.py``) without importing leaselect: the command starts ~0.1 s sooner.

The guard runs in its own session, dies with its parent (``PR_SET_PDEATHSIG``), adopts orphaned
descendants (``PR_SET_CHILD_SUBREAPER``) and, whenever it ends, SIGKILLs every descendant (found
by walking parent links in ``/proc``, so a process in its own session is found too) and reaps
them all, so no part of the command outlives its lease. Signals from ``leaselect run``:

- SIGTERM: forwarded to every descendant (the command and whatever it started);
- SIGUSR2: kill every descendant now and exit (the supervisor's hard stop);
- SIGUSR1 (the parent-death signal): the same, when ``leaselect run`` died.

It exits with the command's exit status (128 + N when the command died of signal N).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from types import FrameType

PARENT_DIED = signal.SIGUSR1
KILL_NOW = signal.SIGUSR2
EXIT_BAD_USAGE = 2
EXIT_KILLED = 128 + signal.SIGKILL
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


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


def _parents(zombies: bool = False) -> dict[int, int]:
    """pid -> parent pid of every live process (and zombie, if ``zombies``)."""
    found: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if zombies or fields[0] != "Z":
            found[int(entry)] = int(fields[1])
    return found


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


def kill_all() -> None:
    """SIGKILL every descendant and reap until we have no children left."""
    while True:
        signal_all(descendants(os.getpid()), signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _kill_and_exit(signum: int, frame: FrameType | None) -> None:
    kill_all()
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
    if os.getppid() != guard:  # the guard died before the signal was armed
        os._exit(EXIT_KILLED)


def supervise(parent: int, command: list[str]) -> int:
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
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child.pid:
            child.returncode = _status_code(status)
            kill_all()
            return child.returncode


def main(argv: list[str] | None = None) -> int:
    """Parse ``--parent PID -- CMD...`` and supervise."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 4 or args[0] != "--parent" or args[2] != "--":
        print("usage: python -m leaselect.cli.guard --parent PID -- CMD...", file=sys.stderr)
        return EXIT_BAD_USAGE
    return supervise(int(args[1]), args[3:])


if __name__ == "__main__":
    sys.exit(main())
