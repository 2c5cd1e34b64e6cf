"""``AsyncElector``: the threaded ``Elector`` driven from asyncio.

Campaigning, renewal and the deadline watchdog stay on the core's threads, so an event loop that
is busy with blocking code cannot starve them: the lease is renewed meanwhile, and if it is lost
anyway the core steps down at the local deadline. Events reach the loop through
``call_soon_threadsafe``. ``async with elector as lease:`` cancels the body's task at the local
deadline (or as soon as the elector's own path reports the loss, never queued behind user
callbacks) and then raises ``LeaseLost``; ``__aexit__`` also raises ``LeaseLost`` when the lease
ended during a body that never reached an ``await``. One ``async with`` block at a time per
elector: a nested or concurrent one raises ``AlreadyRunning`` (a second body would share, and
then release, the first one's tenure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .aio_bridge import DeadlineGuard, call_in_loop, settle
from .aio_watch import AsyncLeaderWatch as AsyncLeaderWatch
from .aio_watch import watch as watch
from .backend import Backend
from .callbacks import Callbacks
from .clock import SYSTEM_CLOCK, Clock
from .elector import Elector
from .errors import AlreadyRunning, ElectionTimeout, LeaseLost
from .lease import Leader, Lease, LostReason
from .machine import Effect, Lost
from .signalmask import in_quiet_thread, start_quiet

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import ElectorOptions

log = logging.getLogger("leaselect")


AsyncOnElected = Callable[[Lease], "Awaitable[None] | None"]
AsyncOnJeopardy = Callable[[Lease], "Awaitable[None] | None"]
AsyncOnLost = Callable[[Lease, LostReason], "Awaitable[None] | None"]
AsyncOnNewLeader = Callable[[Leader | None], "Awaitable[None] | None"]


class AsyncElector:
    """``Elector`` for asyncio: same options, awaitable blocking calls, loop-side callbacks.

    Callbacks (plain functions or coroutine functions) run in the event loop one at a time, each
    (with its coroutine) finished before the next starts, and the elector campaigns again only
    once ``on_lost`` has returned: serialized per tenure like ``Elector``'s. The other
    keyword options are ``Elector``'s.
    """

    def __init__(
        self,
        backend_or_url: Backend | str,
        name: str,
        *,
        on_elected: AsyncOnElected | None = None,
        on_lost: AsyncOnLost | None = None,
        on_jeopardy: AsyncOnJeopardy | None = None,
        on_new_leader: AsyncOnNewLeader | None = None,
        clock: Clock | None = None,
        **options: Unpack[ElectorOptions],
    ) -> None:
        self._clock = clock or SYSTEM_CLOCK
        callbacks: Callbacks[Awaitable[None] | None] = Callbacks(
            on_elected, on_lost, on_jeopardy, on_new_leader
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard: DeadlineGuard | None = None
        self._in_block = False  # an ``async with`` body is entering or running
        self.elector = Elector(
            backend_or_url,
            name,
            clock=self._clock,
            on_elected=lambda lease: self._in_loop(callbacks.on_elected, "on_elected", lease),
            on_lost=lambda lease, why: self._in_loop(callbacks.on_lost, "on_lost", lease, why),
            on_jeopardy=lambda lease: self._in_loop(callbacks.on_jeopardy, "on_jeopardy", lease),
            on_new_leader=(
                (lambda leader: self._in_loop(callbacks.on_new_leader, "on_new_leader", leader))
                if on_new_leader
                else None
            ),
            **options,
        )
        self.elector._observe(self._observe)

    # -- state (non-blocking) -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.elector.name

    @property
    def is_leader(self) -> bool:
        """True while leading and before the local deadline (reads the clock, never blocks)."""
        return self.elector.is_leader

    @property
    def in_jeopardy(self) -> bool:
        """True while leading but renewals are failing."""
        return self.elector.in_jeopardy

    @property
    def lease(self) -> Lease | None:
        """The current lease, or None."""
        return self.elector.lease

    # -- awaitable API ------------------------------------------------------------------------

    async def leader(self) -> Leader | None:
        """Who leads, as the store reports it."""
        return await in_quiet_thread(self.elector.leader)

    async def acquire(self, timeout: float | None = None) -> Lease | None:
        """Wait until this process leads (one tenure); None after ``timeout`` seconds."""
        loop = self._bind()
        future: asyncio.Future[Lease | None] = loop.create_future()
        start_quiet(
            threading.Thread(
                target=self._acquire_in_thread,
                args=(loop, future, timeout),
                name=f"leaselect-aio-acquire-{self.name}",
                daemon=True,
            )
        )
        try:
            return await future
        except asyncio.CancelledError:
            start_quiet(threading.Thread(target=self.elector.release, daemon=True))
            raise

    def start(self) -> None:
        """Campaign in the background and again after every lost tenure (call from the loop)."""
        self._bind()
        self.elector.start()

    async def release(self) -> None:
        """Stop campaigning; step down if leading."""
        await in_quiet_thread(self.elector.release)

    async def close(self) -> None:
        """Release and close the backend if this elector opened it."""
        await in_quiet_thread(self.elector.close)

    async def __aenter__(self) -> Lease:
        if self._in_block:
            raise AlreadyRunning(
                f"an async with block of {self.name!r} is already running on this elector; "
                "use one AsyncElector per block"
            )
        self._in_block = True
        try:
            lease = await self.acquire()
            if lease is None:
                raise ElectionTimeout(f"leadership of {self.name!r} ended before it was handed out")
        except BaseException:
            self._in_block = False
            raise
        task = asyncio.current_task()
        assert task is not None, "async with needs a running task"
        self._guard = DeadlineGuard(task, lease, self._clock)
        self._guard.arm()
        return lease

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        guard, self._guard = self._guard, None
        lapsed = guard is not None and guard.tenure.over()
        if guard is not None:
            guard.disarm()
        try:
            await self.release()
        except asyncio.CancelledError:
            if guard is None or not guard.fired:
                raise
        finally:
            self._in_block = False
        if guard is not None and lapsed and not guard.fired:
            raise LeaseLost(
                f"leadership of {self.name!r} token={guard.lease.token} ended while the body "
                "ran (it reached no await to be cancelled at)"
            ) from exc
        if guard is not None and guard.fired:
            uncancel = getattr(guard.task, "uncancel", None)
            if uncancel is not None:
                uncancel()
            raise LeaseLost(
                f"leadership of {self.name!r} token={guard.lease.token} was lost; "
                "the body was cancelled at the local deadline"
            ) from exc

    def __repr__(self) -> str:
        return f"Async{self.elector!r}"

    # -- thread -> loop bridge ----------------------------------------------------------------

    def _bind(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        return self._loop

    def _acquire_in_thread(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Lease | None],
        timeout: float | None,
    ) -> None:
        try:
            lease = self.elector.acquire(timeout)
        except BaseException as exc:
            settle(loop, future, None, exc)
        else:
            settle(loop, future, lease, None)

    def _in_loop(self, callback: Callable[..., Any] | None, label: str, *args: Any) -> None:
        """On the elector's callback thread: ``callback`` in the loop (see ``call_in_loop``)."""
        if callback is not None:
            call_in_loop(self._loop, callback, f"callback {label} of {self.name!r}", *args)

    def _observe(self, effect: Effect) -> None:
        """The elector's own path: a loss cancels the body without waiting for callbacks."""
        loop, guard = self._loop, self._guard
        if isinstance(effect, Lost) and loop is not None and guard is not None:
            if guard.lease is not effect.lease:
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._fire, guard)

    def _fire(self, guard: DeadlineGuard) -> None:
        if self._guard is guard:
            guard.fire()
