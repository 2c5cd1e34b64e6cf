"""leaselect: lease-based leader election with fencing tokens."""

from .aio import AsyncElector
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
