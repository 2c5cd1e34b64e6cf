"""Signal masks as ``/proc`` reports them."""

from __future__ import annotations


def blocked_signals(status: str) -> set[int]:
    """The signals a ``/proc/.../status`` text says are blocked."""
    line = next(line for line in status.splitlines() if line.startswith("SigBlk:"))
    mask = int(line.split()[1], 16)
    return {signum for signum in range(1, 65) if mask >> (signum - 1) & 1}
