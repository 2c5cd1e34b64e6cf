"""``Tenure``: one lease as a supervisor of leader work sees it, and when that work must stop.

Every supervisor (``LeaderOnly``, ``leader_only`` over a coroutine function, ``AsyncElector``'s
``async with``, ``LeaderScheduler``, ``leaselect run``) tells its work to stop ``grace`` seconds
before the local deadline and stops it by the deadline at the latest (README, "The safety
model in a few lines").
The deadline moves forward with each renewal, so every question is asked of the clock again;
``Timing.max_stop_grace`` bounds ``grace`` so the stop comes only once a renewal is overdue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .clock import Clock
from .lease import Lease

if TYPE_CHECKING:
    import asyncio


@dataclass(eq=False)
class Tenure:
    """``lease`` on ``clock``, its work told to stop ``grace`` seconds before the deadline."""

    lease: Lease
    clock: Clock
    grace: float = 0.0

    @property
    def name(self) -> str:
        return self.lease.name

    @property
    def deadline(self) -> float:
        """The local deadline now (it moves with renewals)."""
        return self.lease.deadline

    @property
    def stop_at(self) -> float:
        """When the work is told to stop: ``grace`` before the deadline."""
        return self.lease.deadline - self.grace

    def left(self) -> float:
        """Seconds until the local deadline (negative once past)."""
        return self.lease.deadline - self.clock.now()

    def until_stop(self) -> float:
        """Seconds until the stop signal is due (0.0 once due)."""
        return max(0.0, self.stop_at - self.clock.now())

    def stop_due(self) -> bool:
        """Whether the work must be told to stop now (also: no new work may start)."""
        return self.clock.now() >= self.stop_at

    def over(self) -> bool:
        """Whether the local deadline has passed."""
        return self.clock.now() >= self.lease.deadline

    def call_at_stop(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[[], None], soon: bool = False
    ) -> Callable[[], None]:
        """Call ``fn`` in ``loop`` once the stop is due, re-armed as renewals move the deadline
        (first checked now, or at the loop's next turn if ``soon``); returns a function that
        cancels the call."""
        handles: list[asyncio.Handle] = []
        cancelled = False

        def check() -> None:
            if cancelled:
                return
            wait = self.until_stop()
            if wait > 0:
                handles[:] = [loop.call_later(wait, check)]
            else:
                fn()

        def cancel() -> None:
            nonlocal cancelled
            cancelled = True
            for handle in handles:
                handle.cancel()

        if soon:
            handles.append(loop.call_soon(check))
        else:
            check()
        return cancel
