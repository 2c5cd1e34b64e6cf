"""``leader_only`` over a coroutine function: ``await job()`` runs it only while leading.

``AsyncLeaderFunction`` is ``LeaderFunction`` for asyncio, on ``AsyncElector``: it campaigns,
awaits ``fn(lease, stop)`` in the tenure (``stop`` an ``asyncio.Event`` set ``stop_grace``
seconds before the local deadline, re-armed as renewals move it), and the body is cancelled at
the local deadline like an ``async with AsyncElector`` body. It returns ``fn``'s result once
``fn`` returns while its lease is valid (the tenure is then released), re-raises its exception
likewise, and campaigns and runs ``fn`` again when the tenure ended first. ``stop()`` sets
``stop``, cancels the body if it has not returned ``stop_grace`` seconds later (at the local
deadline at the latest), and makes the call return None.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from .aio import AsyncElector
from .errors import AlreadyRunning, LeaseLost
from .lease import Lease
from .tenure import Tenure

T = TypeVar("T")
AsyncLeaderFn = Callable[[Lease, asyncio.Event], Coroutine[Any, Any, T]]


class AsyncLeaderFunction(Generic[T]):
    """A coroutine function decorated with ``leader_only``; see the module docstring."""

    def __init__(
        self,
        fn: Callable[..., Coroutine[Any, Any, T]],
        make: Callable[[], AsyncElector],
    ) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", "leader_function")
        self._make = make
        self._lock = threading.Lock()
        self._running = False
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._body: tuple[asyncio.Task[Any], asyncio.Event, Tenure] | None = None
        self._cancelled = False  # stop() cancelled the body

    async def __call__(self) -> T | None:
        return await self._run(self.fn)

    async def _run(self, fn: Callable[..., Coroutine[Any, Any, T]]) -> T | None:
        """``__call__`` of this function or of a method bound from it (one state for both)."""
        with self._lock:
            if self._running:
                raise AlreadyRunning(f"{self.__name__} is already being run by another call")
            if self._stopping:  # stop() came first: honour it once
                self._stopping = False
                return None
            self._running = True
            self._loop = asyncio.get_running_loop()
        elector = self._make()
        try:
            while not self._stopping:
                try:
                    async with elector as lease:
                        result = await self._serve(fn, elector, lease)
                    if not self._stopping:
                        return result
                except LeaseLost:
                    continue  # the tenure ended before fn returned: campaign, run it again
                except asyncio.CancelledError:
                    if not self._cancelled:
                        raise
                    uncancel = getattr(asyncio.current_task(), "uncancel", None)
                    if uncancel is not None:
                        uncancel()
            return None
        finally:
            await elector.close()
            with self._lock:
                self._running = self._stopping = self._cancelled = False
                self._loop = None

    def __get__(
        self, instance: object, owner: type | None = None
    ) -> AsyncLeaderFunction[T] | BoundAsyncLeaderFunction[T]:
        if instance is None:
            return self
        return BoundAsyncLeaderFunction(self, instance)

    def stop(self) -> None:
        """Stop a running call (thread-safe), or the next one if none runs."""
        with self._lock:
            self._stopping = True
            loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing runs any more
                loop.call_soon_threadsafe(self._stop_body)

    async def _serve(
        self, fn: Callable[..., Coroutine[Any, Any, T]], elector: AsyncElector, lease: Lease
    ) -> T:
        stop = asyncio.Event()
        task = asyncio.current_task()
        assert task is not None
        tenure = Tenure(lease, elector._clock, elector.elector.timing.stop_grace)
        self._body = (task, stop, tenure)
        # ``stop`` at deadline - stop_grace; the deadline moves with renewals
        cancel = tenure.call_at_stop(task.get_loop(), stop.set, soon=True)
        if self._stopping:
            self._stop_body()
        try:
            return await fn(lease, stop)
        finally:
            cancel()
            self._body = None

    def _stop_body(self) -> None:
        """``stop()`` in the loop: set the body's ``stop``, cancel it if it lingers."""
        body = self._body
        if body is None:
            return
        task, stop, tenure = body
        stop.set()

        def cancel() -> None:
            if self._body is body:  # still running that body
                self._cancelled = True
                task.cancel("stopped")

        wait = min(tenure.grace, max(0.0, tenure.left()))
        task.get_loop().call_later(wait, cancel)


class BoundAsyncLeaderFunction(Generic[T]):
    """``instance.method`` of a decorated method: ``method(instance, lease, stop)``. Every
    instance shares the function's one election, one call at a time and ``stop()``."""

    def __init__(self, function: AsyncLeaderFunction[T], instance: object) -> None:
        self._function = function
        self._instance = instance
        self.__name__ = function.__name__

    async def __call__(self) -> T | None:
        return await self._function._run(functools.partial(self._function.fn, self._instance))

    def stop(self) -> None:
        self._function.stop()
