"""The embedded store's lease clock: CLOCK_BOOTTIME plus the boot id.

CLOCK_BOOTTIME is shared by every process of a host, never goes backwards and keeps counting
through suspend. It restarts at each boot, so every lease row records the boot id: a row from an
earlier boot is expired by definition.
"""

from __future__ import annotations

import functools
import sys
import time

from ..errors import ConfigError

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


def require_linux() -> None:
    """The embedded store needs CLOCK_BOOTTIME and a boot id."""
    if not sys.platform.startswith("linux") or not hasattr(time, "CLOCK_BOOTTIME"):
        raise ConfigError("the sqlite:// backend needs Linux (CLOCK_BOOTTIME and a boot id)")


def host_now() -> float:
    """Seconds since boot, including suspend."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


@functools.cache
def boot_id() -> str:
    """This boot's identifier."""
    with open(BOOT_ID_PATH, encoding="ascii") as f:
        return f.read().strip()
