"""leaselect: lease-based leader election with fencing tokens.

``AsyncElector`` is imported on first use (``from leaselect import AsyncElector`` works as
usual): ``import leaselect`` does not import asyncio, which is most of its import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backend import Backend
from .clock import SYSTEM_CLOCK, Clock
from .elector import Elector
from .errors import (
    BackendUnavailable,
    ConfigError,
    ElectionTimeout,
    LeaselectError,
    LeaseLost,
    NotLeader,
)
from .lease import Leader, Lease, LostReason
from .registry import connect
from .runner import LeaderOnly, leader_only
from .timing import Timing
from .watching import LeaderChange, LeaderWatch, watch

if TYPE_CHECKING:
    from .aio import AsyncElector

__all__ = [
    "SYSTEM_CLOCK",
    "AsyncElector",
    "Backend",
    "BackendUnavailable",
    "Clock",
    "ConfigError",
    "ElectionTimeout",
    "Elector",
    "Leader",
    "LeaderChange",
    "LeaderOnly",
    "LeaderWatch",
    "Lease",
    "LeaseLost",
    "LeaselectError",
    "LostReason",
    "NotLeader",
    "Timing",
    "connect",
    "leader_only",
    "watch",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``leaselect.AsyncElector``: imported (with asyncio) only when first asked for."""
    if name == "AsyncElector":
        from .aio import AsyncElector

        globals()[name] = AsyncElector
        return AsyncElector
    raise AttributeError(f"module 'leaselect' has no attribute {name!r}")
