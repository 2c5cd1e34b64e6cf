"""Polling in real time for a condition other threads or processes make true."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(check: Callable[[], bool], timeout: float = 10, step: float = 0.05) -> bool:
    """True once ``check()`` holds, polling every ``step`` s; after ``timeout`` s, a last check."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return check()
