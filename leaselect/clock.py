"""The one clock every lease computation reads.

Lease math never uses wall-clock time. The default clock is ``CLOCK_BOOTTIME`` on Linux: it is
monotonic, shared by every process of the host, and unlike ``CLOCK_MONOTONIC`` it keeps running
while the machine is suspended, so a lease the store let expire during a suspend is not believed
to be alive after the resume.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic time source plus the one blocking primitive drivers use."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Block until ``event`` is set (True) or ``timeout`` seconds of this clock pass (False)."""
        ...


def _boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class SystemClock:
    """``CLOCK_BOOTTIME`` where the platform has it, else ``time.monotonic``."""

    def __init__(self) -> None:
        self._read = _boottime if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic

    def now(self) -> float:
        return self._read()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if timeout is not None and timeout <= 0:
            return event.is_set()
        return event.wait(timeout)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()
