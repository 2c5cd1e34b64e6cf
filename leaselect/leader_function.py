"""``leader_only``: a decorator that runs a function only while this process leads
(``LeaderOnly``), or a coroutine function (``AsyncLeaderFunction``, see leaselect.aio_leader)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from .backend import Backend
from .callbacks import Callbacks
from .checks import check_stop_grace
from .leader_runner import LeaderOnly
from .options import with_stop_grace

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .aio import AsyncElector
    from .aio_leader import AsyncLeaderFunction
    from .options import LeaderOptions, RunnerOptions

T = TypeVar("T")


class LeaderFunction(Generic[T]):
    """A function decorated with ``leader_only``: calling it runs it only while leading.

    On a method, ``instance.method()`` runs ``method(instance, lease, stop)``; every instance
    shares the one election (and one call at a time).
    """

    def __init__(self, fn: Callable[..., T], runner: LeaderOnly, label: str | None = None) -> None:
        self.fn = fn
        self.runner = runner
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", "leader_function")
        self._label = label or getattr(fn, "__qualname__", self.__name__)

    def __call__(self) -> T | None:
        """Campaign, run the function while leading; see ``LeaderOnly.run``."""
        return self.runner.run(self.fn, self._label)

    def __get__(self, instance: object, owner: type | None = None) -> LeaderFunction[T]:
        if instance is None:
            return self
        return LeaderFunction(functools.partial(self.fn, instance), self.runner, self._label)

    def stop(self) -> None:
        """Stop a running call, or the next one if none runs (thread-safe)."""
        self.runner.stop()


class LeaderOnlyDecorator:
    """What ``leader_only(...)`` returns: wraps a function in ``LeaderFunction``, a coroutine
    function in ``AsyncLeaderFunction`` (see leaselect.aio_leader)."""

    def __init__(
        self, target: Backend | str, name: str, stop_grace: float, options: RunnerOptions
    ) -> None:
        self._target, self._name, self._stop_grace, self._options = (
            target,
            name,
            stop_grace,
            options,
        )

    @overload
    def __call__(  # type: ignore[overload-overlap]  # a coroutine function is a function too
        self, fn: Callable[..., Coroutine[Any, Any, T]]
    ) -> AsyncLeaderFunction[T]: ...

    @overload
    def __call__(self, fn: Callable[..., T]) -> LeaderFunction[T]: ...

    def __call__(self, fn: Callable[..., Any]) -> LeaderFunction[Any] | AsyncLeaderFunction[Any]:
        if inspect.iscoroutinefunction(fn):
            from .aio import AsyncElector
            from .aio_leader import AsyncLeaderFunction

            options = self._options.copy()
            Callbacks(  # a bad callback is refused here, at decoration
                options.get("on_elected"), options.get("on_lost"), options.get("on_jeopardy")
            )

            def make() -> AsyncElector:
                timed = with_stop_grace(options, self._stop_grace)  # checked at each call
                return AsyncElector(self._target, self._name, **timed)

            return AsyncLeaderFunction(fn, make)
        runner = LeaderOnly(self._target, self._name, stop_grace=self._stop_grace, **self._options)
        return LeaderFunction(fn, runner)


def leader_only(
    backend_or_url: Backend | str, name: str, **options: Unpack[LeaderOptions]
) -> LeaderOnlyDecorator:
    """Decorator: ``@leader_only(url, "name", ttl=10)`` over ``def job(lease, stop): ...`` (run
    by ``LeaderOnly``) or ``async def job(lease, stop): ...`` (``await job()``; see
    leaselect.aio_leader); the keyword options are ``LeaderOnly``'s."""
    stop_grace = check_stop_grace(options.pop("stop_grace", 0.0))
    return LeaderOnlyDecorator(backend_or_url, name, stop_grace, options)
