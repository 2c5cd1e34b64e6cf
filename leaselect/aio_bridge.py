"""The thread-to-loop bridge under ``AsyncElector``: a deadline guard that cancels a task,
futures settled from threads, callbacks run in the loop from the elector's callback thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .clock import Clock
from .lease import Lease
from .tenure import Tenure

log = logging.getLogger("leaselect")

_LOOP_CHECK = 1.0  # seconds between checks that the loop still runs while a callback is awaited


class DeadlineGuard:
    """Cancels one task when its lease reaches the local deadline (re-armed as it moves)."""

    def __init__(self, task: asyncio.Task[Any], lease: Lease, clock: Clock) -> None:
        self.task, self.lease = task, lease
        self.tenure = Tenure(lease, clock)  # no grace: the body is cancelled at the deadline
        self.fired = False
        self._done = False
        self._cancel: Callable[[], None] | None = None

    def arm(self) -> None:
        """Cancel the task once the deadline is reached, wherever renewals move it."""
        if not self._done:
            self._cancel = self.tenure.call_at_stop(self.task.get_loop(), self.fire)

    def fire(self) -> None:
        """Cancel the task once (the tenure is over)."""
        if self._done or self.fired:
            return
        self.fired = True
        self.task.cancel(f"leadership of {self.lease.name!r} token={self.lease.token} lost")

    def disarm(self) -> None:
        """The body is over: never cancel from now on."""
        self._done = True
        if self._cancel is not None:
            self._cancel()


def settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Lease | None],
    lease: Lease | None,
    error: BaseException | None,
) -> None:
    """Settle ``future`` in ``loop`` (from another thread) with ``lease`` or ``error``."""

    def deliver() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(lease)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(deliver)


def call_in_loop(
    loop: asyncio.AbstractEventLoop | None, callback: Callable[..., Any], label: str, *args: Any
) -> None:
    """On the elector's callback thread: run ``callback`` in ``loop`` and block until it (and
    the coroutine it returned) completed, so callbacks stay serialized per tenure and the
    elector campaigns again only once ``on_lost`` has returned, as with ``Elector``. ``label``
    names it in the log if it raises."""
    if loop is None:  # never bound to a loop: run it here
        result = callback(*args)
        if inspect.isawaitable(result):
            asyncio.run(_awaited(result))
        return
    call = _call(callback, *args)
    try:
        future = asyncio.run_coroutine_threadsafe(call, loop)
    except RuntimeError:  # the loop is closed: nobody to call back
        call.close()
        return
    while True:
        try:
            future.result(timeout=_LOOP_CHECK)
            return
        except concurrent.futures.TimeoutError:
            if loop.is_closed() or not loop.is_running():  # never leave this thread stuck
                future.cancel()
                return
        except concurrent.futures.CancelledError:
            return
        except Exception:
            log.exception("%s raised", label)
            return


async def _call(callback: Callable[..., Any], *args: Any) -> None:
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


async def _awaited(result: Awaitable[Any]) -> None:
    await result
