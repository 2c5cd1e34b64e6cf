"""The supervised command: started under the guard in its own process group."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

log = logging.getLogger("leaselect.cli")
GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard.py")


class Child:
    """One run of the command; ``done`` is set (and ``on_exit`` called) when it has ended."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], on_exit: threading.Event):
        guard = [sys.executable, "-I", "-S", GUARD, "--parent", str(os.getpid()), "--"]
        self._proc = subprocess.Popen([*guard, *command], env=dict(env), start_new_session=True)
        self.pid = self._proc.pid
        self.done = threading.Event()
        self.code: int | None = None
        self.terminated = False
        self.killed = False
        self._on_exit = on_exit
        threading.Thread(target=self._reap, name=f"leaselect-child-{self.pid}", daemon=True).start()
        log.info("started command (guard pid %d)", self.pid)

    def _reap(self) -> None:
        code = self._proc.wait()
        self.code = 128 - code if code < 0 else code
        self.done.set()
        self._on_exit.set()

    def terminate(self) -> None:
        """SIGTERM the whole process group (once)."""
        if not self.terminated:
            self.terminated = True
            self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole process group (once)."""
        if not self.killed:
            self.killed = True
            self._signal(signal.SIGKILL)

    def _signal(self, signum: signal.Signals) -> None:
        if self.done.is_set():
            return
        log.info("sending %s to the command (group %d)", signum.name, self.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)
