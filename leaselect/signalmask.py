"""Keeps leaselect's own threads out of the kernel's choice of a thread for process signals.

The kernel hands a signal sent to the process (``kill PID``, Ctrl-C, ``systemctl stop``) to
any one thread that does not block it, and CPython runs the Python handler on the main thread
only, when that thread next runs Python code. A main thread parked in a wait without a timeout
(``Thread.join()``, ``Event.wait()``) wakes for the handler only if the kernel chose *it*: a
signal that landed on a store or keeper thread leaves the program deaf until something else
wakes its main thread. So the threads leaselect starts for store I/O (the campaign, the keeper,
the ZooKeeper client's, the command line's reapers) block the process signals below, and the
kernel delivers them to the program's own threads. Threads that run user code (callbacks,
leader-only functions) keep the mask of the thread that started the elector: a process started
there must not inherit blocked signals.
"""

from __future__ import annotations

import contextlib
import contextvars
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

Mask = set[int | signal.Signals]  # what ``signal.pthread_sigmask`` returns

PROCESS_SIGNALS = frozenset(
    {
        signal.SIGHUP,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGTERM,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGALRM,
    }
)


@contextmanager
def process_signals_blocked() -> Iterator[Mask]:
    """Block ``PROCESS_SIGNALS`` on this thread for the block (threads started inside inherit
    that mask); yields the mask from before. A signal that arrives meanwhile stays pending and
    is delivered once the mask is restored."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, PROCESS_SIGNALS)
    try:
        yield before
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def start_quiet(thread: threading.Thread) -> Mask:
    """Start ``thread`` with ``PROCESS_SIGNALS`` blocked; returns the caller's mask."""
    with process_signals_blocked() as before:
        thread.start()
    return before


def current_mask() -> Mask:
    """This thread's signal mask."""
    return signal.pthread_sigmask(signal.SIG_BLOCK, ())


async def in_quiet_thread(fn: Callable[..., T], *args: object) -> T:
    """``await asyncio.to_thread(fn, *args)``, on a thread of its own started with
    ``start_quiet`` (the loop's default executor would run leaselect's store I/O on a thread
    that takes process signals). Cancelling the awaiting task leaves ``fn`` running."""
    import asyncio  # here: ``import leaselect`` does not import asyncio

    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return  # the awaiting task was cancelled
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (context.run(fn, *args), None)
        except BaseException as exc:  # handed to the awaiting task
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, *outcome)

    start_quiet(threading.Thread(target=run, name="leaselect-aio-call", daemon=True))
    return await future
