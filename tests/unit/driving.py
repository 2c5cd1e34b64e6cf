"""Helpers for driving the threaded Elector on a fake clock in unit tests."""

from __future__ import annotations

import threading

from leaselect import Lease, LostReason
from leaselect.testing import FakeClock
from tests.unit.scripted import ScriptedBackend

TTL = 9.0  # renew every 3 s; margin 0.9 s; deadline = sent + 9 * 0.99 / 1.01 - 0.9
DEADLINE_AFTER = TTL * 0.99 / 1.01 - 0.9
SETTLE = 5.0  # real seconds a background thread gets to react (only reached on failure)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, LostReason | None]] = []
        self.lost = threading.Event()

    def elected(self, lease: Lease) -> None:
        self.calls.append(("elected", lease.token, None))

    def on_lost(self, lease: Lease, reason: LostReason) -> None:
        self.calls.append(("lost", lease.token, reason))
        self.lost.set()


def advance_until_renewed(clock: FakeClock, backend: ScriptedBackend, seconds: float) -> None:
    before = backend.keep_alives
    clock.advance(seconds)
    assert wait_for(lambda: backend.keep_alives > before)


def wait_for(condition: object, settle: float = SETTLE) -> bool:
    """Poll ``condition`` in real time (threads react) for at most ``settle`` seconds."""
    done = threading.Event()
    for _ in range(max(1, int(settle / 0.01))):
        if condition():  # type: ignore[operator]
            return True
        done.wait(0.01)
    return False
