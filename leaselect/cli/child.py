"""The supervised command: started under the guard, in a session of its own.

``leaselect run`` is a child subreaper too: if the guard itself is SIGKILLed (the OOM killer), the
command and its descendants re-parent to ``run``, which kills and reaps them before ``done`` is
set, so no new tenure's command ever runs beside an old one's leftovers. This matters most for a
command that changed user (``setpriv``, ``runuser``, ``gosu``): the kernel clears its
parent-death signal, so the guard's death alone would not stop it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence

from ..signalmask import start_quiet
from .guard import KILL_NOW, become_subreaper, descendants, kill_all

log = logging.getLogger("leaselect.cli")
GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard.py")
SWEEP_BOUND = 5.0  # seconds spent at most killing leftovers (a process in D state waits)


class Child:
    """One run of the command; ``done`` is set (and ``on_exit`` set) when it and all it started
    have ended."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], on_exit: threading.Event):
        become_subreaper()
        self._report, report = os.pipe()
        guard = [sys.executable, "-I", "-S", GUARD, "--parent", str(os.getpid())]
        guard += ["--report-fd", str(report), "--"]
        try:
            self._proc = subprocess.Popen(
                [*guard, *command], env=dict(env), start_new_session=True, pass_fds=(report,)
            )
        except BaseException:
            os.close(self._report)
            raise
        finally:
            os.close(report)
        self.pid = self._proc.pid
        self.done = threading.Event()
        self.code: int | None = None
        self.terminated = False
        self.killed = False
        self.forced = False
        self._on_exit = on_exit
        start_quiet(
            threading.Thread(target=self._reap, name=f"leaselect-child-{self.pid}", daemon=True)
        )
        log.info("started command (guard pid %d)", self.pid)

    def _reap(self) -> None:
        code = self._proc.wait()
        self.code = 128 - code if code < 0 else code
        sweep_orphans(self._command_group())
        self.done.set()
        self._on_exit.set()

    def _command_group(self) -> int:
        """The command's pid (its process group) if it re-parented to us (the guard died
        before reaping it), else 0: then the guard's own cleanup ran to its end."""
        try:
            reported = os.read(self._report, 64)
        except OSError:
            reported = b""
        finally:
            os.close(self._report)
        try:
            pid = int(reported.split()[0])
        except (IndexError, ValueError):
            return 0
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            return 0
        return pid if int(stat[stat.rfind(")") + 2 :].split()[1]) == os.getpid() else 0

    def terminate(self) -> None:
        """SIGTERM the command and every descendant (once; the guard forwards it)."""
        if not self.terminated:
            self.terminated = True
            self._signal(signal.SIGTERM, "SIGTERM")

    def kill(self) -> None:
        """Have the guard SIGKILL every descendant and exit (once)."""
        if not self.killed:
            self.killed = True
            self._signal(KILL_NOW, "SIGKILL")

    def force(self) -> None:
        """The guard did not obey ``kill`` in time: SIGKILL its group (orphans come to us)."""
        if not self.forced and not self.done.is_set():
            self.forced = True
            log.warning("the guard (pid %d) did not stop: killing its process group", self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)

    def _signal(self, signum: int, what: str) -> None:
        if self.done.is_set():
            return
        log.warning("sending %s to the command (guard pid %d)", what, self.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)


def sweep_orphans(group: int = 0) -> None:
    """SIGKILL and reap every descendant of this process (orphans re-parented to us), freezing
    the tree first so a process that keeps forking cannot outrun the sweep (bounded).

    ``group`` is the command's process group when the command re-parented to us: one
    ``killpg`` freezes every member at once, which a walk of ``/proc`` cannot promise (a
    process that forks and exits between the walk's listing and its read is missed)."""
    leftovers = descendants(os.getpid())
    if leftovers:
        log.warning("killing %d leftover process(es) of the command", len(leftovers))
    elif group:
        log.warning("killing the command's process group %d", group)
    kill_all(group, keep=group, bound=SWEEP_BOUND)
    end = time.monotonic() + SWEEP_BOUND
    while group and time.monotonic() < end:  # the command itself, kept to hold its group id
        try:
            if os.waitpid(group, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)
    if group:
        log.warning("the command (pid %d) did not die within %.0fs", group, SWEEP_BOUND)
