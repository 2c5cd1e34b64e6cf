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
from collections.abc import Mapping, Sequence

from .guard import KILL_NOW, become_subreaper, descendants, kill_all

log = logging.getLogger("leaselect.cli")
GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard.py")
SWEEP_BOUND = 5.0  # seconds spent at most killing leftovers (a process in D state waits)


class Child:
    """One run of the command; ``done`` is set (and ``on_exit`` set) when it and all it started
    have ended."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], on_exit: threading.Event):
        become_subreaper()
        guard = [sys.executable, "-I", "-S", GUARD, "--parent", str(os.getpid()), "--"]
        self._proc = subprocess.Popen([*guard, *command], env=dict(env), start_new_session=True)
        self.pid = self._proc.pid
        self.done = threading.Event()
        self.code: int | None = None
        self.terminated = False
        self.killed = False
        self.forced = False
        self._on_exit = on_exit
        threading.Thread(target=self._reap, name=f"leaselect-child-{self.pid}", daemon=True).start()
        log.info("started command (guard pid %d)", self.pid)

    def _reap(self) -> None:
        code = self._proc.wait()
        self.code = 128 - code if code < 0 else code
        sweep_orphans()
        self.done.set()
        self._on_exit.set()

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


def sweep_orphans() -> None:
    """SIGKILL and reap every descendant of this process (orphans re-parented to us), freezing
    the tree first so a process that keeps forking cannot outrun the sweep (bounded)."""
    leftovers = descendants(os.getpid())
    if leftovers:
        log.warning("killing %d leftover process(es) of the command", len(leftovers))
    kill_all(bound=SWEEP_BOUND)
