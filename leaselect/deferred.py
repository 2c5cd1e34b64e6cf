"""Work the watchdog puts off until every tenure due at one wake-up has ended.

Starting a thread costs a context switch (about 1 ms on a loaded machine): with one start per
tick, the 200th of 200 tenures sharing a deadline ended 50 ms late. Inside ``batch()``,
``later(fn)`` queues ``fn`` for the end of the block; outside it, ``fn`` runs at once. Callback
threads are urgent (``on_lost`` is due at the deadline); the threads that campaign on are not.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

log = logging.getLogger("leaselect")

_local = threading.local()


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Run what ``later`` queues inside the block at its end: the urgent ones first, each
    group in order."""
    urgent: list[Callable[[], None]] = []
    rest: list[Callable[[], None]] = []
    _local.queued = (urgent, rest)
    try:
        yield
    finally:
        _local.queued = None
        for fn in [*urgent, *rest]:
            try:
                fn()
            except Exception:  # one failure must not keep the others from starting
                log.exception("leaselect: deferred start failed")


def later(fn: Callable[[], None], urgent: bool = False) -> None:
    """``fn()`` at the end of the current ``batch()`` on this thread (``urgent``: before the
    others), or now if there is none."""
    queued: tuple[list[Callable[[], None]], list[Callable[[], None]]] | None = getattr(
        _local, "queued", None
    )
    if queued is None:
        fn()
    else:
        queued[0 if urgent else 1].append(fn)
