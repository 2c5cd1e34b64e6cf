"""Release at exit: every elector created with ``release_on_exit=True`` (the default) is closed
when the interpreter exits normally, and when the process gets SIGTERM while SIGTERM still has
its default action (no handler of the program's own).

Without this a leader that exits keeps its lease for a full TTL and its successors wait. On
SIGTERM the electors are closed on a helper thread (the main thread may hold an elector's lock
at the moment the signal lands), for at most ``EXIT_BUDGET`` seconds; then SIGTERM is raised
again with its default action, so the process still dies of SIGTERM exactly as it would have.
A forked child never closes its parent's electors (the registry is emptied in the child).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import weakref
from types import FrameType
from typing import Protocol

log = logging.getLogger("leaselect")

EXIT_BUDGET = 5.0  # seconds SIGTERM waits for the electors to release before the process dies


class Closable(Protocol):
    """What is closed at exit (an ``Elector``)."""

    def close(self) -> None:
        """Release and stop."""


_registered: weakref.WeakSet[Closable] = weakref.WeakSet()
_lock = threading.Lock()
_hooks_installed = False
_sigterm_installed = False


def register(closable: Closable) -> None:
    """Close ``closable`` at interpreter exit and on a default-action SIGTERM."""
    global _hooks_installed
    with _lock:
        _registered.add(closable)
        if not _hooks_installed:
            atexit.register(close_all)
            os.register_at_fork(after_in_child=_forget_all)
            _hooks_installed = True
    _install_sigterm()


def unregister(closable: Closable) -> None:
    """Undo ``register`` (``closable`` was closed)."""
    with _lock:
        _registered.discard(closable)


def close_all() -> None:
    """Close every registered elector of this process (newest first)."""
    with _lock:
        pending = list(_registered)
    for closable in reversed(pending):
        try:
            closable.close()
        except Exception:
            log.exception("closing %r at exit failed", closable)


def _forget_all() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it at the fork
    _registered.clear()


def _install_sigterm() -> None:
    """Handle SIGTERM if it still has its default action and we are on the main thread."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # the program handles SIGTERM itself: its handler decides
    signal.signal(signal.SIGTERM, _on_sigterm)
    _sigterm_installed = True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    helper = threading.Thread(target=close_all, name="leaselect-exit", daemon=True)
    helper.start()
    helper.join(EXIT_BUDGET)
    if helper.is_alive():
        log.warning("electors still releasing after %gs; exiting anyway", EXIT_BUDGET)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
