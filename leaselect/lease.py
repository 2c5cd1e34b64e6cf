"""What an elector hands out (``Lease``) and what anyone can observe (``Leader``)."""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass


class LostReason(str, enum.Enum):
    """Why a tenure ended."""

    RELEASED = "released"
    EXPIRED = "expired"
    TAKEN = "taken"
    UNREACHABLE = "unreachable"


class Lease:
    """One tenure of leadership.

    ``token`` is the fencing token: strictly greater than every earlier tenure's token for this
    election. Pass it to every resource you write to and let the resource reject older tokens.
    ``deadline`` is the local deadline on the elector's clock (``leaselect.clock.SYSTEM_CLOCK``);
    it moves forward with each successful renewal.
    """

    __slots__ = ("_deadline", "_lock", "identity", "name", "token", "ttl")

    def __init__(self, name: str, identity: str, token: int, ttl: float, deadline: float) -> None:
        self.name = name
        self.identity = identity
        self.token = token
        self.ttl = ttl
        self._deadline = deadline
        self._lock = threading.Lock()

    @property
    def deadline(self) -> float:
        """Seconds on the elector's clock after which this lease must not be relied on."""
        with self._lock:
            return self._deadline

    def _extend(self, deadline: float, ttl: float) -> None:
        with self._lock:
            self._deadline = max(self._deadline, deadline)
            self.ttl = ttl

    def _end(self, now: float) -> None:
        with self._lock:
            self._deadline = min(self._deadline, now)

    def __repr__(self) -> str:
        return (
            f"Lease(name={self.name!r}, identity={self.identity!r}, token={self.token}, "
            f"ttl={self.ttl:g}, deadline={self.deadline:.3f})"
        )


@dataclass(frozen=True)
class Leader:
    """The current leader as the store reports it.

    ``expires_in`` is the store's remaining lease time in seconds, or None where the store cannot
    tell (ZooKeeper keeps other sessions' timeouts to itself).
    """

    identity: str
    token: int
    metadata: str
    expires_in: float | None
