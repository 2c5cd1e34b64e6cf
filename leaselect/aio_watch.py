"""``leaselect.aio.watch``: the leader watch as an async iterator.

The watch itself (``leaselect.watching``) blocks in the store's push channel; each step runs in
the default executor, and cancelling the awaiting task stops the watch at once.
"""

from __future__ import annotations

import asyncio

from .backend import Backend
from .clock import Clock
from .watching import LeaderChange, LeaderWatch


class _Ended(Exception):
    """The blocking watch ended (StopIteration cannot cross a future)."""


class AsyncLeaderWatch:
    """``async for change in leaselect.aio.watch(url, "jobs"): ...``; see ``LeaderWatch``."""

    def __init__(self, watch: LeaderWatch) -> None:
        self.watch = watch

    def __aiter__(self) -> AsyncLeaderWatch:
        return self

    async def __anext__(self) -> LeaderChange:
        try:
            return await asyncio.to_thread(self._next)
        except _Ended:
            raise StopAsyncIteration from None
        except asyncio.CancelledError:
            self.watch.stop()  # the executor thread returns at once
            raise

    def _next(self) -> LeaderChange:
        try:
            return next(self.watch)
        except StopIteration:
            raise _Ended from None

    def stop(self) -> None:
        """End the iteration (thread-safe, never blocks)."""
        self.watch.stop()

    async def aclose(self) -> None:
        """Stop and release the store connection."""
        self.watch.stop()
        await asyncio.to_thread(self.watch.close)

    async def __aenter__(self) -> AsyncLeaderWatch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def watch(
    backend_or_url: Backend | str,
    *names: str,
    timeout: float | None = None,
    clock: Clock | None = None,
) -> AsyncLeaderWatch:
    """An ``AsyncLeaderWatch`` over ``names``."""
    return AsyncLeaderWatch(LeaderWatch(backend_or_url, names, timeout=timeout, clock=clock))
