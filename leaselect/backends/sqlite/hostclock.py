"""Which clock the embedded store's lease times are on: CLOCK_BOOTTIME, the boot id and the
time namespace.

Lease times are read from the backend's clock, ``leaselect.clock.SYSTEM_CLOCK`` by default,
which is CLOCK_BOOTTIME on Linux (``require_linux``): shared by every process of a host, never
going backwards, counting through suspend. It restarts at each boot, so every lease row records
the boot id: a row from an earlier boot is expired by definition.

A time namespace (Linux 5.6+, ``unshare --time``) shifts CLOCK_BOOTTIME by a fixed offset for its
processes while the boot id stays the same, so lease times written by a process in one namespace
mean something else to a process in another. ``clock_domain`` names the clock a process reads:
the boot id plus its namespace's boottime offset. A store records the domain of its first user
(per boot) and refuses every process whose domain differs (see ``schema``).
"""

from __future__ import annotations

import functools
import os
import sys
import time

from ...errors import ConfigError

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
NS_PATH = "/proc/self/ns/time"
NS_FOR_CHILDREN_PATH = "/proc/self/ns/time_for_children"
OFFSETS_PATH = "/proc/self/timens_offsets"


def require_linux() -> None:
    """The embedded store needs CLOCK_BOOTTIME (then ``SYSTEM_CLOCK`` reads it) and a boot id."""
    if not sys.platform.startswith("linux") or not hasattr(time, "CLOCK_BOOTTIME"):
        raise ConfigError("the sqlite:// backend needs Linux (CLOCK_BOOTTIME and a boot id)")


@functools.cache
def boot_id() -> str:
    """This boot's identifier."""
    with open(BOOT_ID_PATH, encoding="ascii") as f:
        return f.read().strip()


@functools.cache
def clock_domain() -> str:
    """``<boot id>/<boottime offset>``: processes with equal domains read the same CLOCK_BOOTTIME.

    The offset is ``0:0`` without time namespaces; ``ns:<inode>`` if the offsets cannot be read
    (then only processes of the very same namespace match).
    """
    return f"{boot_id()}/{_boottime_offset()}"


def _boottime_offset() -> str:
    try:
        own = os.readlink(NS_PATH)
    except FileNotFoundError:
        return "0:0"  # a kernel without time namespaces
    if os.readlink(NS_FOR_CHILDREN_PATH) != own:
        raise ConfigError(
            "this process has unshared a time namespace it does not live in yet; the sqlite:// "
            "backend cannot tell which CLOCK_BOOTTIME it reads"
        )
    try:
        with open(OFFSETS_PATH, encoding="ascii") as f:
            for line in f:
                clock, seconds, nanoseconds = line.split()
                if clock in ("boottime", str(time.CLOCK_BOOTTIME)):
                    return f"{int(seconds)}:{int(nanoseconds)}"
    except OSError:
        pass
    return f"ns:{own.partition('[')[2].rstrip(']')}"


def describe_domain(domain: str) -> str:
    """A domain in words, for error messages."""
    offset = domain.partition("/")[2]
    if offset.startswith("ns:"):
        return f"time namespace {offset[3:]}"
    seconds, _, nanoseconds = offset.partition(":")
    return f"CLOCK_BOOTTIME offset {int(seconds) + int(nanoseconds or 0) / 1e9:g} s"
