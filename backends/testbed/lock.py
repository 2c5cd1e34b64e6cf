"""Serialising launchers: an exclusive flock on <state dir>/launch.lock."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from .state import state_dir

P = ParamSpec("P")
R = TypeVar("R")


class StateLock:
    """An exclusive flock on <state dir>/launch.lock, re-entrant within this process.

    Two launchers (say a test run's ``up`` and someone's ``down``) must not interleave: one could
    start a member while the other removes its pid file, leaving a server nobody tracks.
    """

    def __init__(self) -> None:
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd = -1

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the duration of the ``with`` block."""
        with self._mutex:
            if self._depth == 0:
                path = state_dir() / "launch.lock"
                path.parent.mkdir(parents=True, exist_ok=True)
                # O_CLOEXEC: the servers we spawn must not inherit (and so keep) the lock
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    os.close(self._fd)  # releases the flock


STATE_LOCK = StateLock()


def locked(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` holding the state dir's lock."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with STATE_LOCK.held():
            return func(*args, **kwargs)

    return wrapper
