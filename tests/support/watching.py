"""A watch iterated on a thread of its own, and the tests its changes are matched with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import leaselect
from leaselect.lease import Leader
from leaselect.watching import LeaderChange


class Recorder:
    """Iterates a watch on a thread of its own; ``expect`` waits for a change."""

    def __init__(self, target: leaselect.Backend | str, *names: str) -> None:
        self.watch = leaselect.watch(target, *names)
        self.changes: list[tuple[float, LeaderChange]] = []
        self._cursor = 0
        self._seen = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for change in self.watch:
            with self._seen:
                self.changes.append((time.monotonic(), change))
                self._seen.notify_all()

    def expect(self, test: Callable[[Leader | None], bool], within: float) -> float:
        """When the first change after the one the last ``expect`` found passed ``test``."""
        with self._seen:

            def found() -> int | None:
                for index in range(self._cursor, len(self.changes)):
                    if test(self.changes[index][1].leader):
                        return index
                return None

            assert self._seen.wait_for(lambda: found() is not None, within), self.changes
            index = found()
            assert index is not None
            self._cursor = index + 1
            return self.changes[index][0]

    def close(self) -> None:
        self.watch.close()
        self._thread.join(5)
        assert not self._thread.is_alive()


def led_by(identity: str) -> Callable[[Leader | None], bool]:
    """A test: ``identity`` leads."""
    return lambda leader: leader is not None and leader.identity == identity


def nobody(leader: Leader | None) -> bool:
    """A test: nobody leads."""
    return leader is None
