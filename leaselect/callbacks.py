"""``Callbacks``: what an elector calls as its tenures begin, falter and end, checked once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Generic, TypeVar

from .checks import check_callback
from .lease import Leader, Lease, LostReason

OnElected = Callable[[Lease], None]
OnLost = Callable[[Lease, LostReason], None]
OnJeopardy = Callable[[Lease], None]
OnNewLeader = Callable[[Leader | None], None]
R = TypeVar("R")  # what a callback returns: None (``Elector``), maybe an awaitable (asyncio)


@dataclass(frozen=True)
class Callbacks(Generic[R]):
    """An elector's callbacks, each None or callable (else ``ConfigError`` naming it).

    ``on_elected(lease)`` when a tenure begins; ``on_jeopardy(lease)`` when its renewals start
    failing (start no new leader work); exactly one ``on_lost(lease, reason)`` when it ends;
    ``on_new_leader(leader)`` for every change of the leader the store reports (None: nobody).
    """

    on_elected: Callable[[Lease], R] | None = None
    on_lost: Callable[[Lease, LostReason], R] | None = None
    on_jeopardy: Callable[[Lease], R] | None = None
    on_new_leader: Callable[[Leader | None], R] | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            check_callback(field.name, getattr(self, field.name))
