"""leaselect: lease-based leader election with fencing tokens."""

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
from .timing import Timing

__all__ = [
    "SYSTEM_CLOCK",
    "Backend",
    "BackendUnavailable",
    "Clock",
    "ConfigError",
    "ElectionTimeout",
    "Elector",
    "Leader",
    "Lease",
    "LeaseLost",
    "LeaselectError",
    "LostReason",
    "NotLeader",
    "Timing",
    "connect",
]
__version__ = "0.1.0"
