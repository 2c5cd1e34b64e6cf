"""``python -m leaselect.cli.guard --parent PID -- CMD...``: the command's bodyguard.

Standard library only, so ``leaselect run`` starts it as a plain script (``python -I -S
guard.py``) without importing leaselect: the command starts ~0.1 s sooner.

The guard runs in its own process group, dies with its parent (``PR_SET_PDEATHSIG``), adopts
orphaned descendants (``PR_SET_CHILD_SUBREAPER``) and, whenever it ends, kills every process left
in its group or below it, so no part of the command outlives its lease. It exits with the
command's exit status (128 + N when the command died of signal N).
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


def _stray_processes() -> list[int]:
    """Live processes of our group, or re-parented to us, other than ourselves."""
    me, group = os.getpid(), os.getpgrp()
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        state, ppid, pgrp = fields[0], int(fields[1]), int(fields[2])
        if state != "Z" and (pgrp == group or ppid == me):
            found.append(int(entry))
    return found


def kill_all() -> None:
    """SIGKILL every stray process and reap until we have no children left."""
    while True:
        for pid in _stray_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _on_parent_death(signum: int, frame: FrameType | None) -> None:
    kill_all()
    os._exit(EXIT_KILLED)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The supervisor signals the whole group; the command decides, the guard stays."""


def _status_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def _child_setup() -> None:
    set_parent_death_signal(signal.SIGKILL)


def supervise(parent: int, command: list[str]) -> int:
    """Arm the kernel hooks, run ``command``, and clean up after it."""
    signal.signal(PARENT_DIED, _on_parent_death)
    set_parent_death_signal(PARENT_DIED)
    if os.getppid() != parent:
        return EXIT_KILLED
    become_subreaper()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _ignore)
    try:
        child = subprocess.Popen(command, preexec_fn=_child_setup)
    except OSError as exc:
        print(f"leaselect: cannot start {command[0]!r}: {exc.strerror}", file=sys.stderr)
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
